/** `pemba validate FILE…`: runs SpiceDB validation files and prints every failure as FILE:LINE: message. */
import { isAbsolute, relative } from 'node:path';
import type { Command } from 'commander';
import { loadValidationFile } from '../validationfile/load.js';
import { runValidationFile } from '../validationfile/run.js';
import type { Problem } from '../validationfile/types.js';

export interface Output {
  out: (line: string) => void;
  err: (line: string) => void;
}

const consoleOutput: Output = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function display(path: string): string {
  return isAbsolute(path) && !relative(process.cwd(), path).startsWith('..') ? relative(process.cwd(), path) : path;
}

function formatProblem(p: Problem): string {
  return `${display(p.path)}:${p.line}: ${p.message}`;
}

/** Validates each file; returns the process exit code (0 only when every file passed). */
export async function validateCommand(files: string[], output: Output = consoleOutput): Promise<number> {
  let failedFiles = 0;
  for (const path of files) {
    let problems: Problem[];
    let summary = '';
    try {
      const parsed = loadValidationFile(path);
      problems = parsed.problems;
      if (problems.length === 0) {
        const run = await runValidationFile(parsed.file);
        problems = run.problems;
        summary =
          `${plural(run.relationshipsLoaded, 'relationship')} loaded, ${plural(run.assertionsRun, 'assertion')} run, ` +
          `${plural(run.expectedRelationsValidated, 'expected relation')} validated`;
      }
    } catch (error) {
      problems = [{ path, line: 1, column: 1, message: `cannot validate: ${(error as Error).message}` }];
    }
    for (const p of problems) output.out(formatProblem(p));
    if (problems.length > 0) {
      failedFiles++;
      output.out(`${path}: FAILED with ${plural(problems.length, 'problem')}${summary ? ` (${summary})` : ''}`);
    } else {
      output.out(`${path}: ok (${summary})`);
    }
  }
  if (files.length > 1) output.out(`${plural(files.length - failedFiles, 'file')} passed, ${failedFiles} failed`);
  return failedFiles > 0 ? 1 : 0;
}

export function registerValidate(program: Command): Command {
  return program
    .command('validate')
    .description('check SpiceDB validation files (schema, relationships, assertions, expected relations)')
    .argument('<files...>', 'validation files (YAML, the format of `zed validate`)')
    .action(async (files: string[]) => {
      process.exitCode = await validateCommand(files);
    });
}

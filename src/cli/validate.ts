/**
 * `pemba validate FILE…`: runs SpiceDB validation files (YAML), OpenFGA store test files
 * (`.fga.yaml`, the format of `fga model test`; see validate-fga.ts) or checks bare schema files (`.zed`),
 * printing every failure as FILE:LINE:COL: message and SpiceDB's schema warnings as
 * FILE:LINE:COL: warning: message (the shapes editors and CI annotate). Warnings fail nothing
 * unless --fail-on-warn.
 */
import { isAbsolute, relative } from 'node:path';
import type { Command } from 'commander';
import { isSchemaFile, loadSchemaFile, loadValidationFile } from '../validationfile/load.js';
import { runValidationFile } from '../validationfile/run.js';
import { isFgaStoreFile, runFgaStoreFile } from './validate-fga.js';
import type { Problem } from '../validationfile/types.js';

export interface Output {
  out: (line: string) => void;
  err: (line: string) => void;
}

export interface ValidateOptions {
  /** Count a file with warnings as failed, as `zed validate --fail-on-warn` does. */
  failOnWarn?: boolean;
}

const consoleOutput: Output = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** A path as printed: relative to the working directory when it lies below it. */
export function display(path: string): string {
  return isAbsolute(path) && !relative(process.cwd(), path).startsWith('..') ? relative(process.cwd(), path) : path;
}

const at = (p: Problem) => `${display(p.path)}:${p.line}:${p.column}`;

/** Validates each file; returns the process exit code (0 only when every file passed). */
export async function validateCommand(
  files: string[],
  output: Output = consoleOutput,
  options: ValidateOptions = {},
): Promise<number> {
  let failedFiles = 0;
  for (const path of files) {
    let problems: Problem[];
    let warnings: Problem[] = [];
    let summary = '';
    const schemaOnly = isSchemaFile(path);
    try {
      if (!schemaOnly && isFgaStoreFile(path)) {
        const run = await runFgaStoreFile(path);
        problems = run.problems;
        summary =
          `OpenFGA: ${plural(run.tests, 'test')}, ${plural(run.tuples, 'tuple')} loaded, ` +
          `${plural(run.assertions, 'assertion')} run`;
      } else {
        const parsed = schemaOnly ? loadSchemaFile(path) : loadValidationFile(path);
        problems = parsed.problems;
        if (problems.length === 0) {
          const run = await runValidationFile(parsed.file);
          problems = run.problems;
          warnings = run.warnings;
          summary = schemaOnly
            ? run.schema
              ? `schema only: ${plural(run.schema.definitions, 'definition')}, ${plural(run.schema.caveats, 'caveat')}`
              : ''
            : `${plural(run.relationshipsLoaded, 'relationship')} loaded, ${plural(run.assertionsRun, 'assertion')} run, ` +
              `${plural(run.expectedRelationsValidated, 'expected relation')} validated`;
        }
      }
    } catch (error) {
      problems = [{ path, line: 1, column: 1, message: `cannot validate: ${(error as Error).message}` }];
    }
    for (const w of warnings) output.out(`${at(w)}: warning: ${w.message}`);
    for (const p of problems) output.out(`${at(p)}: ${p.message}`);
    const detail = summary ? ` (${summary})` : '';
    const warned = warnings.length > 0 ? plural(warnings.length, 'warning') : '';
    if (problems.length > 0 || (options.failOnWarn && warnings.length > 0)) {
      failedFiles++;
      const counts = [problems.length > 0 ? plural(problems.length, 'problem') : '', warned].filter(Boolean);
      output.out(`${path}: FAILED with ${counts.join(' and ')}${detail}`);
    } else {
      output.out(`${path}: ok${warned ? ` with ${warned}` : ''}${detail}`);
    }
  }
  if (files.length > 1) output.out(`${plural(files.length - failedFiles, 'file')} passed, ${failedFiles} failed`);
  return failedFiles > 0 ? 1 : 0;
}

export function registerValidate(program: Command): Command {
  return program
    .command('validate')
    .description(
      'check SpiceDB validation files (schema, relationships, assertions, expected relations), OpenFGA store test files (.fga.yaml) or bare schema files (.zed)',
    )
    .argument(
      '<files...>',
      'validation files (YAML, the format of `zed validate`), OpenFGA store test files (.fga.yaml, the format of `fga model test`) or schema files (.zed)',
    )
    .option('--fail-on-warn', 'treat schema warnings as failures (exit code 1)', false)
    .action(async (files: string[], opts: { failOnWarn?: boolean }) => {
      process.exitCode = await validateCommand(files, consoleOutput, { failOnWarn: opts.failOnWarn });
    });
}

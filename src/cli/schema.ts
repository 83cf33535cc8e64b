/**
 * `pemba schema compile ROOT.zed [--out FILE]`: composes a schema spread over files (`use import`,
 * `import "file.zed"`, `use partial`) into the single schema WriteSchema takes, as `zed schema
 * compile` (formerly `zed preview schema compile`) does: imports merged, partials expanded, printed
 * canonically. Errors are printed as FILE:LINE:COL: message, exit code 1.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { SchemaCompositionError, compileSchemaFile, nodeComposeIO } from '../schema/compose.js';
import { type Output, display } from './validate.js';
import { addSchemaClientCommands } from './client/schema-commands.js';

const consoleOutput: Output = {
  out: (text) => process.stdout.write(text),
  err: (line) => process.stderr.write(`${line}\n`),
};

export interface SchemaCompileOptions {
  /** Write the schema here rather than to `output.out`. */
  out?: string;
}

/** Compiles `root`; returns the process exit code. `output.out` receives the schema text whole. */
export function schemaCompileCommand(
  root: string,
  options: SchemaCompileOptions = {},
  output: Output = consoleOutput,
): number {
  let rootText: string;
  try {
    rootText = readFileSync(root, 'utf8');
  } catch (error) {
    output.err(`${display(root)}: failed to read schema file: ${(error as Error).message}`);
    return 1;
  }
  if (rootText.trim() === '') {
    output.err(`${display(root)}: attempted to compile empty schema`);
    return 1;
  }
  let text: string;
  try {
    text = compileSchemaFile(root, nodeComposeIO, rootText).text;
  } catch (error) {
    if (error instanceof SchemaCompositionError) {
      const { path, line, column } = error.location;
      output.err(`${display(path)}:${line}:${column}: ${error.detail}`);
    } else {
      output.err(`${display(root)}: ${(error as Error).message}`);
    }
    return 1;
  }
  if (options.out) {
    try {
      writeFileSync(options.out, text);
    } catch (error) {
      output.err(`${display(options.out)}: cannot write the schema: ${(error as Error).message}`);
      return 1;
    }
  } else {
    output.out(text);
  }
  return 0;
}

export function registerSchema(program: Command): Command {
  const schema = program.command('schema').description('work with schema files');
  schema
    .command('compile')
    .description(
      'compose a schema that imports other files (`use import`) and uses partials (`use partial`) into one schema that can be written to SpiceDB or Pemba, as `zed schema compile` does',
    )
    .argument('<file>', 'the root schema file (.zed)')
    .option('--out <file>', 'write the schema to this file rather than to stdout')
    .action((file: string, opts: { out?: string }) => {
      process.exitCode = schemaCompileCommand(file, { out: opts.out });
    });
  addSchemaClientCommands(schema);
  return schema;
}

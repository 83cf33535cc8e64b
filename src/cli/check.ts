/**
 * `pemba check RESOURCE PERMISSION SUBJECT [--explain]`: one permission check, answered from a
 * validation file (`--file`, loaded into an in-memory instance as `pemba validate` loads it) or by a
 * running server (the connection flags; the same as `pemba permission check`). With --explain, the
 * evaluation tree is printed as `zed permission check --explain` prints it:
 *
 *   pemba check document:roadmap view user:dave --explain --file docs.yaml
 *   pemba check document:roadmap view user:dave --explain --endpoint localhost:50051 --insecure --token key
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { toDebugInformation } from '../api/debug-trace.js';
import { Pemba } from '../pemba.js';
import { parseRelationship } from '../relationships/relationship-string.js';
import { isSchemaFile, loadSchemaFile, loadValidationFile } from '../validationfile/load.js';
import { runValidationFile } from '../validationfile/run.js';
import { addClientOptions } from './client-options.js';
import { addConsistencyOptions, clientAction, consoleIO, UsageError } from './client/common.js';
import type { ClientIO } from './client/common.js';
import { permissionCheck, renderTree, traceTree } from './client/permission.js';
import type { PermissionCheckOptions } from './client/permission.js';
import { display } from './validate.js';

export interface CheckOptions extends PermissionCheckOptions {
  /** A validation file (YAML) or schema file (.zed) to answer from, instead of a server. */
  file?: string;
}

/** `type:id` or `type:id#relation` in the subject's place; the permission after `#`. */
function parseCheck(resource: string, permission: string, subject: string) {
  if (!/^[^:#@\s]+:[^#@\s]+$/.test(resource))
    throw new UsageError(`resource \`${resource}\` must have the form type:id (e.g. document:readme)`);
  try {
    const r = parseRelationship(`${resource}#${permission}@${subject}`);
    return { resource: r.resource, permission: r.relation, subject: r.subject };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function parseContextText(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--caveat-context: not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new UsageError('--caveat-context must be a JSON object');
  return value as Record<string, unknown>;
}

const ANSWER = { HAS_PERMISSION: 'true', NO_PERMISSION: 'false', CONDITIONAL_PERMISSION: 'caveated' } as const;

/** Answers from a validation file; exit code as `pemba permission check` (2: bad usage or file). */
export async function checkFile(args: string[], options: CheckOptions, io: ClientIO = consoleIO): Promise<number> {
  let query;
  let context;
  try {
    if (args.length !== 3)
      throw new UsageError(`expected <resource:id> <permission> <subject:id>, got ${args.length} arguments`);
    query = parseCheck(args[0], args[1], args[2]);
    context = parseContextText(options.caveatContext);
  } catch (error) {
    io.err(`error: ${(error as Error).message}`);
    return 2;
  }
  const path = options.file!;
  let parsed;
  try {
    parsed = isSchemaFile(path) ? loadSchemaFile(path) : loadValidationFile(path);
  } catch (error) {
    io.err(`error: cannot read ${path}: ${(error as Error).message}`);
    return 2;
  }
  const at = (p: { path: string; line: number; column: number }) => `${display(p.path)}:${p.line}:${p.column}`;
  if (parsed.problems.length > 0) {
    for (const p of parsed.problems) io.err(`${at(p)}: ${p.message}`);
    return 2;
  }
  const pemba = await Pemba.open();
  try {
    const run = await runValidationFile(parsed.file, { pemba });
    if (!run.schema) {
      for (const p of run.problems) io.err(`${at(p)}: ${p.message}`);
      io.err(`error: ${path} has no schema that compiles`);
      return 2;
    }
    // Failed assertions do not stop a check: the file's data is what it is. They are noted.
    if (run.problems.length > 0)
      io.err(`note: ${path} has ${run.problems.length} failing item(s); run \`pemba validate ${path}\``);
    const result = await pemba.check({
      ...query,
      context,
      consistency: { mode: 'fully_consistent' },
      trace: options.explain === true,
    });
    if (options.json) {
      io.out(JSON.stringify(result, null, 2));
    } else {
      io.out(ANSWER[result.permissionship]);
      if (result.permissionship === 'CONDITIONAL_PERMISSION')
        io.err(
          `missing caveat context: ${result.missingContext?.join(', ') || '(unknown)'} (give it with --caveat-context)`,
        );
    }
    if (options.explain && !options.json) {
      const trace = result.trace && toDebugInformation(result.trace).check;
      if (trace) for (const line of renderTree(traceTree(trace))) io.out(line);
      else io.err('no trace for this check');
    }
    if (options.errorOnNoPermission && result.permissionship !== 'HAS_PERMISSION') return 1;
    return 0;
  } catch (error) {
    io.err(`error: ${(error as Error).message}`);
    return 1;
  } finally {
    await pemba.close();
  }
}

/** `--file`: answered from the file; otherwise by the server (`pemba permission check`). */
export function checkCommand(args: string[], options: CheckOptions, io: ClientIO = consoleIO): Promise<number> {
  return options.file ? checkFile(args, options, io) : permissionCheck(args, options, io);
}

export function registerCheck(program: Command, io: ClientIO = consoleIO): Command {
  const check = program
    .command('check')
    .argument('<resource>', 'resource:id (e.g. document:readme)')
    .argument('<permission>', 'the permission or relation (e.g. view)')
    .argument('<subject>', 'subject:id or subject:id#relation (e.g. user:alice)')
    .description(
      'check a permission against a validation file (--file) or a running server, and with --explain print why',
    )
    .addOption(new Option('--file <path>', 'answer from this validation file (YAML) or schema (.zed), not a server'))
    .addOption(new Option('--explain', 'print the evaluation tree: which relations, arrows and caveats decided'))
    .addOption(new Option('--caveat-context <json>', 'the caveat context, in JSON form (e.g. \'{"ip":"10.0.0.1"}\')'))
    .addOption(new Option('--error-on-no-permission', 'exit 1 unless the subject has the permission unconditionally'))
    .addOption(new Option('--json', 'print the answer as JSON'));
  addConsistencyOptions(check);
  addClientOptions(check).addHelpText(
    'after',
    `
Examples:
  pemba check document:readme view user:alice --explain --file validation.yaml
  pemba check document:readme view user:alice --explain --endpoint localhost:50051 --insecure --token somerandomkeyhere`,
  );
  return clientAction(check, checkCommand, io);
}

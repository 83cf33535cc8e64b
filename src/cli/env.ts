/**
 * SpiceDB's environment variables for Pemba's commands: every option that reads `PEMBA_<FLAG>` also
 * reads `SPICEDB_<FLAG>`, as SpiceDB names it (`SPICEDB_GRPC_PRESHARED_KEY`,
 * `SPICEDB_DATASTORE_CONN_URI`, …), so a deployment's environment carries over unchanged.
 * Precedence: the command line, then `PEMBA_<FLAG>` (when set at all, even empty), then
 * `SPICEDB_<FLAG>`, then the default.
 */
import type { EventEmitter } from 'node:events';
import { Option } from 'commander';
import type { Command } from 'commander';
import { envName } from '../server/config.js';
import type { FlagSpec } from '../server/config.js';

const PREFIX = 'PEMBA_';

/** The SPICEDB_ name of an option whose environment variable is PEMBA_… (undefined otherwise). */
export function spicedbEnvOf(option: Option): string | undefined {
  const env = option.envVar;
  return env?.startsWith(PREFIX) ? `SPICEDB_${env.slice(PREFIX.length)}` : undefined;
}

/**
 * Fills each option that got neither a command-line value nor its PEMBA_ variable from its SPICEDB_
 * variable, exactly as commander applies PEMBA_ (through the option's own parser). Run it as the
 * command's `preAction` hook: commander has applied the command line and PEMBA_ by then.
 */
export function applySpicedbEnv(command: Command, env: NodeJS.ProcessEnv = process.env): void {
  for (const option of command.options) {
    const name = spicedbEnvOf(option);
    if (!name || !(name in env) || option.envVar! in env) continue;
    const source = command.getOptionValueSource(option.attributeName());
    if (source !== undefined && source !== 'default') continue;
    // Commander applies PEMBA_ through this event (the option's parser, its value source 'env').
    const events = command as unknown as EventEmitter;
    if (option.required || option.optional) events.emit(`optionEnv:${option.name()}`, env[name]);
    else events.emit(`optionEnv:${option.name()}`);
  }
}

/** Registers applySpicedbEnv on a command (call after its options are added). */
export function withSpicedbEnv(command: Command): Command {
  return command.hook('preAction', (_hooked, actionCommand) => applySpicedbEnv(actionCommand));
}

/** Declares `flags` on `command`, each also read from PEMBA_<FLAG> and SPICEDB_<FLAG>. */
export function addFlags(command: Command, flags: readonly FlagSpec[]): Command {
  for (const flag of flags) {
    const option = new Option(`--${flag.name} ${flag.arg}`, flag.description).env(envName(flag.name));
    // The default (a string) is not the start of the list: the first value given replaces it.
    if (flag.repeatable)
      option.argParser((value: string, previous: unknown) => [...(Array.isArray(previous) ? previous : []), value]);
    if (flag.arg.startsWith('[')) option.preset('true');
    if (flag.default !== undefined) option.default(flag.default);
    command.addOption(option);
  }
  return withSpicedbEnv(command);
}

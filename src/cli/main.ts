#!/usr/bin/env -S node --min-semi-space-size=16
/** The `pemba` command. The shebang's Node flags are SERVE_NODE_FLAGS (src/server/node-flags.ts). */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerDatastore } from './datastore.js';
import { registerExport } from './export.js';
import { registerImport } from './import.js';
import { registerServe } from './serve.js';
import { registerValidate } from './validate.js';

// src/cli/main.ts and dist/cli/main.js both sit two levels below package.json.
const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const program = new Command('pemba')
  .description("Google's Zanzibar in TypeScript, speaking SpiceDB's schema language and API")
  .version(version);

registerValidate(program);
registerServe(program);
registerDatastore(program);
registerImport(program);
registerExport(program);

await program.parseAsync(process.argv);

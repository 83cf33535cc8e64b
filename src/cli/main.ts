#!/usr/bin/env -S node --min-semi-space-size=16
/** The `pemba` command. The shebang's Node flags are SERVE_NODE_FLAGS (src/server/node-flags.ts). */
import { Command } from 'commander';
import { registerBackup } from './client/backup.js';
import { registerCheck } from './check.js';
import { registerPermission } from './client/permission.js';
import { registerRelationship } from './client/relationship.js';
import { registerDatastore } from './datastore.js';
import { registerExport } from './export.js';
import { registerImport } from './import.js';
import { registerPlayground } from './playground.js';
import { registerSchema } from './schema.js';
import { registerServe } from './serve.js';
import { registerServeTesting } from './serve-testing.js';
import { registerValidate } from './validate.js';
import { PEMBA_VERSION } from '../version.js';

const program = new Command('pemba')
  .description("Google's Zanzibar in TypeScript, speaking SpiceDB's schema language and API")
  .version(PEMBA_VERSION);

registerValidate(program);
registerServe(program);
registerServeTesting(program);
registerDatastore(program);
registerImport(program);
registerExport(program);
registerSchema(program);
registerRelationship(program);
registerPermission(program);
registerBackup(program);
registerCheck(program);
registerPlayground(program);

await program.parseAsync(process.argv);

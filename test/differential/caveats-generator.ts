/**
 * Seeded generator for the caveats/expiration differential test (caveats.test.ts): a small schema
 * with two caveats (`c1(n int) { n > K }`, `c2(s string, t string) { s == t }`), caveated and
 * expiring relation types, random permissions over union / intersection / exclusion and an arrow
 * over a caveated tupleset relation; relationships over small id spaces with write-time caveat
 * context (none, partial or complete) and expiration (none, already past, far future); and the
 * request contexts every query is asked with (none, complete, partial).
 *
 * Both SpiceDB and Pemba accept writing a relationship whose expiry is already past (probed), so
 * expired relationships are written directly with `expiresAt` an hour ago.
 */
import type { Relationship, SubjectRef } from '../../src/relationships/relationship.js';
import { ELLIPSIS, Rng, formatRelationship } from './generator.js';

export type Ctx = Record<string, string | number>;

export interface CaveatCase {
  seed: number;
  schema: string;
  relationships: Relationship[];
  /** Request contexts, by label. */
  contexts: { label: 'none' | 'complete' | 'partial'; context: Ctx }[];
  /** resource type → ids. */
  ids: Record<string, string[]>;
  /** resource type → relations and permissions to ask about (all with `user` subjects). */
  names: Record<string, string[]>;
}

const IDS: Record<string, string[]> = {
  user: ['u1', 'u2', 'u3', 'u4'],
  group: ['g1', 'g2'],
  folder: ['f1', 'f2'],
  document: ['d1', 'd2', 'd3'],
};

/** Type-list entries of every relation: [subject type, subject relation, caveat, expiration]. */
type Entry = { type: string; relation?: string; caveat?: 'c1' | 'c2'; expiration?: boolean };
const entry = (e: Entry) =>
  `${e.type}${e.relation ? `#${e.relation}` : ''}${
    e.caveat && e.expiration
      ? ` with ${e.caveat} and expiration`
      : e.caveat
        ? ` with ${e.caveat}`
        : e.expiration
          ? ' with expiration'
          : ''
  }`;

const RELATIONS: Record<string, Record<string, Entry[]>> = {
  group: {
    member: [{ type: 'user' }, { type: 'user', caveat: 'c1' }, { type: 'user', expiration: true }],
  },
  folder: {
    viewer: [
      { type: 'user', caveat: 'c1' },
      { type: 'group', relation: 'member' },
      { type: 'user', caveat: 'c2', expiration: true },
    ],
  },
  document: {
    folder: [{ type: 'folder' }, { type: 'folder', caveat: 'c1' }],
    owner: [{ type: 'user', caveat: 'c1' }],
    editor: [{ type: 'user' }, { type: 'user', caveat: 'c2' }],
    reader: [
      { type: 'group', relation: 'member', caveat: 'c1' },
      { type: 'user', expiration: true },
      { type: 'user', caveat: 'c1', expiration: true },
    ],
    banned: [{ type: 'user' }, { type: 'user', caveat: 'c2' }, { type: 'user', expiration: true }],
  },
};

const ATOMS = ['owner', 'editor', 'reader', 'banned', 'folder->viewer'];

function expr(rng: Rng, depth: number, atoms: string[]): string {
  if (depth === 0 || rng.chance(0.3)) return rng.pick(atoms);
  const op = rng.weighted([
    [' + ', 3],
    [' & ', 2],
    [' - ', 2],
  ] as const);
  return `(${expr(rng, depth - 1, atoms)}${op}${expr(rng, depth - 1, atoms)})`;
}

function writeContext(rng: Rng, caveat: 'c1' | 'c2'): Ctx | undefined {
  if (caveat === 'c1')
    return rng.weighted<Ctx | undefined>([
      [undefined, 3],
      [{ n: 5 }, 1],
      [{ n: 1 }, 1],
    ]);
  return rng.weighted<Ctx | undefined>([
    [undefined, 3],
    [{ s: 'a' }, 1],
    [{ t: 'b' }, 1],
    [{ s: 'a', t: 'a' }, 1],
    [{ s: 'a', t: 'b' }, 1],
  ]);
}

export function generateCaveatCase(seed: number, now = Date.now()): CaveatCase {
  const rng = new Rng(seed * 7919 + 17);
  const threshold = rng.int(2, 4);
  const view = `(${rng.pick(['owner', 'editor', 'reader'])} + ${expr(rng, 1, ATOMS)} + folder->viewer) - ${rng.pick(['banned', 'editor', 'banned'])}`;
  const edit = expr(rng, 2, ATOMS);
  const admin = rng.pick([
    'view & edit',
    'view - edit',
    'edit + folder->viewer',
    `${expr(rng, 2, ATOMS)} & folder->viewer`,
  ]);
  const perms: [string, string][] = [
    ['view', view],
    ['edit', edit],
    ['admin', admin],
  ];
  const defs = [
    'definition user {}',
    ...Object.entries(RELATIONS).map(([type, rels]) => {
      const lines = Object.entries(rels).map(([name, es]) => `  relation ${name}: ${es.map(entry).join(' | ')}`);
      if (type === 'group') lines.push('  permission is_member = member');
      if (type === 'document') for (const [n, e] of perms) lines.push(`  permission ${n} = ${e}`);
      return `definition ${type} {\n${lines.join('\n')}\n}`;
    }),
  ];
  const schema =
    [
      'use expiration',
      `caveat c1(n int) {\n  n > ${threshold}\n}`,
      'caveat c2(s string, t string) {\n  s == t\n}',
      ...defs,
    ].join('\n\n') + '\n';

  const relationships: Relationship[] = [];
  const density = 0.25 + rng.float() * 0.3;
  for (const [type, rels] of Object.entries(RELATIONS)) {
    for (const id of IDS[type]) {
      for (const [relation, entries] of Object.entries(rels)) {
        const subjectTypes = [...new Set(entries.map((e) => `${e.type}#${e.relation ?? ELLIPSIS}`))];
        for (const st of subjectTypes) {
          const [sType, sRel] = st.split('#');
          for (const sid of IDS[sType]) {
            if (!rng.chance(density)) continue;
            const e = rng.pick(entries.filter((x) => x.type === sType && (x.relation ?? ELLIPSIS) === sRel));
            const subject: SubjectRef = { type: sType, id: sid, relation: sRel };
            const r: Relationship = { resource: { type, id }, relation, subject };
            if (e.caveat) {
              const context = writeContext(rng, e.caveat);
              r.caveat = context ? { name: e.caveat, context } : { name: e.caveat };
            }
            if (e.expiration) {
              r.expiresAt = new Date(rng.chance(0.5) ? now - 3_600_000 : now + 30 * 86_400_000);
              r.expiresAt.setMilliseconds(0); // SpiceDB keeps microseconds, but keep it simple
            }
            relationships.push(r);
          }
        }
      }
    }
  }

  const complete: Ctx = { n: rng.pick([1, 5, threshold, threshold + 1]), s: 'a', t: rng.pick(['a', 'b']) };
  const partial: Ctx = rng.pick<Ctx>([{ n: complete.n }, { s: 'a' }, { t: 'a' }, { n: complete.n, t: 'a' }]);
  return {
    seed,
    schema,
    relationships,
    contexts: [
      { label: 'none', context: {} },
      { label: 'complete', context: complete },
      { label: 'partial', context: partial },
    ],
    ids: IDS,
    names: {
      group: ['member', 'is_member'],
      folder: ['viewer'],
      document: ['owner', 'editor', 'reader', 'banned', 'view', 'edit', 'admin'],
    },
  };
}

export function formatCaveatRelationship(r: Relationship): string {
  let s = formatRelationship(r);
  if (r.caveat) s += `[${r.caveat.name}${r.caveat.context ? `:${JSON.stringify(r.caveat.context)}` : ''}]`;
  if (r.expiresAt) s += `[expiration:${r.expiresAt.toISOString()}]`;
  return s;
}

/**
 * Seeded generator for the caveats/expiration differential test (caveats.test.ts): a small schema
 * with two caveats (`c1(n int) { n > K }`, `c2(s string, t string) { s == t }`), caveated and
 * expiring relation types, random permissions over union / intersection / exclusion and an arrow
 * over a caveated tupleset relation; relationships over small id spaces with write-time caveat
 * context (none, partial or complete) and expiration (none, already past, far future); and the
 * request contexts every query is asked with (none, complete, partial). Wildcards (`user:*`, `group:*`,
 * caveated or not) come from a stream of their own, and subject sets `group:g#member` are asked about too.
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
  /** resource type → relations and permissions to ask about. */
  names: Record<string, string[]>;
  /** Whom Check and LookupResources ask about: users and the subject sets `group:g#member`. */
  subjects: SubjectRef[];
  /** What LookupSubjects asks for (`relation` absent: plain objects). */
  subjectKinds: { type: string; relation?: string }[];
}

const IDS: Record<string, string[]> = {
  user: ['u1', 'u2', 'u3', 'u4'],
  group: ['g1', 'g2'],
  folder: ['f1', 'f2'],
  document: ['d1', 'd2', 'd3'],
};

/** Type-list entries of every relation: [subject type, subject relation or wildcard, caveat, expiration]. */
type Entry = { type: string; relation?: string; wildcard?: boolean; caveat?: 'c1' | 'c2'; expiration?: boolean };
const entry = (e: Entry) =>
  `${e.type}${e.wildcard ? ':*' : ''}${e.relation ? `#${e.relation}` : ''}${
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

/**
 * Wildcards, drawn from a stream of their own (the rest of a case is as it was without them): subject
 * sets `group:g1#member` meet `group:*`, users `user:*`, caveated or not, directly and through an arrow.
 */
const WILDCARD_RELATIONS: Record<string, Record<string, Entry[]>> = {
  folder: {
    everyone: [
      { type: 'user', wildcard: true, caveat: 'c1' },
      { type: 'group', wildcard: true },
    ],
  },
  document: {
    public: [
      { type: 'user', wildcard: true, caveat: 'c1' },
      { type: 'group', wildcard: true, caveat: 'c2' },
      { type: 'group', relation: 'member' },
    ],
  },
};
const WILDCARD_ATOMS = ['public', 'folder->everyone', 'reader', 'banned', 'editor'];

function wildcardRelationships(rng: Rng): Relationship[] {
  const out: Relationship[] = [];
  const wildcard = (type: string): SubjectRef => ({ type, id: '*', relation: ELLIPSIS });
  const add = (type: string, id: string, relation: string, subject: SubjectRef, caveat?: 'c1' | 'c2') => {
    const r: Relationship = { resource: { type, id }, relation, subject };
    if (caveat) {
      const context = writeContext(rng, caveat);
      r.caveat = context ? { name: caveat, context } : { name: caveat };
    }
    out.push(r);
  };
  for (const id of IDS.folder) {
    if (rng.chance(0.5)) add('folder', id, 'everyone', wildcard('user'), 'c1');
    if (rng.chance(0.35)) add('folder', id, 'everyone', wildcard('group'));
  }
  for (const id of IDS.document) {
    if (rng.chance(0.5)) add('document', id, 'public', wildcard('user'), 'c1');
    if (rng.chance(0.4)) add('document', id, 'public', wildcard('group'), 'c2');
    for (const g of IDS.group)
      if (rng.chance(0.3)) add('document', id, 'public', { type: 'group', id: g, relation: 'member' });
  }
  return out;
}

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
  const wr = new Rng(seed * 7919 + 29);
  const perms: [string, string][] = [
    ['view', view],
    ['edit', edit],
    ['admin', admin],
    ['shared', `(public + folder->everyone) - ${wr.pick(['banned', 'reader', 'editor'])}`],
    ['open', expr(wr, 2, WILDCARD_ATOMS)],
  ];
  const defs = [
    'definition user {}',
    ...Object.entries(RELATIONS).map(([type, rels]) => {
      const lines = Object.entries({ ...rels, ...WILDCARD_RELATIONS[type] }).map(
        ([name, es]) => `  relation ${name}: ${es.map(entry).join(' | ')}`,
      );
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

  relationships.push(...wildcardRelationships(wr));

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
      folder: ['viewer', 'everyone'],
      document: ['owner', 'editor', 'reader', 'banned', 'public', 'view', 'edit', 'admin', 'shared', 'open'],
    },
    subjects: [
      ...IDS.user.map((id) => ({ type: 'user', id, relation: ELLIPSIS })),
      ...IDS.group.map((id) => ({ type: 'group', id, relation: 'member' })),
    ],
    subjectKinds: [{ type: 'user' }, { type: 'group', relation: 'member' }],
  };
}

export function formatCaveatRelationship(r: Relationship): string {
  let s = formatRelationship(r);
  if (r.caveat) s += `[${r.caveat.name}${r.caveat.context ? `:${JSON.stringify(r.caveat.context)}` : ''}]`;
  if (r.expiresAt) s += `[expiration:${r.expiresAt.toISOString()}]`;
  return s;
}

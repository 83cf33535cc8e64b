/**
 * Where does max depth start? Long acyclic chains (group#member subject sets, folder parent
 * arrows) of growing length, the same queries asked of SpiceDB and Pemba: for each query, the
 * shortest chain on which each engine reports max depth exceeded. SpiceDB's dispatch depth is 50.
 */
import type { Relationship } from '../../src/relationships/relationship.js';
import type { Answer, Engine, Query } from './engines.js';
import { ELLIPSIS } from './generator.js';

export interface ChainShape {
  name: string;
  schema: string;
  types: string[];
  relationships(n: number): Relationship[];
  queries: { label: string; query: Query }[];
}

const user = (id: string) => ({ type: 'user', id, relation: ELLIPSIS });

export const CHAINS: ChainShape[] = [
  {
    name: 'subject-set chain group:g0#member ← group:g1#member ← … ← group:gN#member ∋ user:u1',
    schema:
      'definition user {}\n\ndefinition group {\n  relation member: user | group#member\n  permission view = member\n}\n',
    types: ['user', 'group'],
    relationships: (n) => [
      ...Array.from({ length: n }, (_, i) => ({
        resource: { type: 'group', id: `g${i}` },
        relation: 'member',
        subject: { type: 'group', id: `g${i + 1}`, relation: 'member' },
      })),
      { resource: { type: 'group', id: `g${n}` }, relation: 'member', subject: user('u1') },
    ],
    queries: [
      {
        label: 'check g0#member@u1',
        query: { kind: 'check', resource: { type: 'group', id: 'g0' }, permission: 'member', subject: user('u1') },
      },
      {
        label: 'check g0#view@u1',
        query: { kind: 'check', resource: { type: 'group', id: 'g0' }, permission: 'view', subject: user('u1') },
      },
      {
        label: 'check g0#member@u2 (absent)',
        query: { kind: 'check', resource: { type: 'group', id: 'g0' }, permission: 'member', subject: user('u2') },
      },
      {
        label: 'lookupResources group#member@u1',
        query: { kind: 'lookupResources', resourceType: 'group', permission: 'member', subject: user('u1') },
      },
      {
        label: 'lookupResources group#view@u1',
        query: { kind: 'lookupResources', resourceType: 'group', permission: 'view', subject: user('u1') },
      },
      {
        label: 'lookupSubjects g0#member user',
        query: {
          kind: 'lookupSubjects',
          resource: { type: 'group', id: 'g0' },
          permission: 'member',
          subjectType: 'user',
        },
      },
      {
        label: 'lookupSubjects g0#view user',
        query: {
          kind: 'lookupSubjects',
          resource: { type: 'group', id: 'g0' },
          permission: 'view',
          subjectType: 'user',
        },
      },
    ],
  },
  {
    name: 'arrow chain folder:f0#parent@folder:f1 … folder:fN#viewer@user:u1, view = viewer + parent->view',
    schema:
      'definition user {}\n\ndefinition folder {\n  relation parent: folder\n  relation viewer: user\n  permission view = viewer + parent->view\n}\n',
    types: ['user', 'folder'],
    relationships: (n) => [
      ...Array.from({ length: n }, (_, i) => ({
        resource: { type: 'folder', id: `f${i}` },
        relation: 'parent',
        subject: { type: 'folder', id: `f${i + 1}`, relation: ELLIPSIS },
      })),
      { resource: { type: 'folder', id: `f${n}` }, relation: 'viewer', subject: user('u1') },
    ],
    queries: [
      {
        label: 'check f0#view@u1',
        query: { kind: 'check', resource: { type: 'folder', id: 'f0' }, permission: 'view', subject: user('u1') },
      },
      {
        label: 'check f0#view@u2 (absent)',
        query: { kind: 'check', resource: { type: 'folder', id: 'f0' }, permission: 'view', subject: user('u2') },
      },
      {
        label: 'lookupResources folder#view@u1',
        query: { kind: 'lookupResources', resourceType: 'folder', permission: 'view', subject: user('u1') },
      },
      {
        label: 'lookupSubjects f0#view user',
        query: {
          kind: 'lookupSubjects',
          resource: { type: 'folder', id: 'f0' },
          permission: 'view',
          subjectType: 'user',
        },
      },
    ],
  },
];

/** Chain lengths tried: around SpiceDB's depth of 50, plus one far beyond. */
export const LENGTHS = [20, 46, 47, 48, 49, 50, 51, 52, 53, 80];

export interface Boundary {
  chain: string;
  label: string;
  /** Shortest tried length with a max-depth error (undefined: none up to the longest). */
  spicedb?: number;
  pemba?: number;
  /** Lengths where both answered but differently. */
  answerMismatches: number[];
}

const isMaxDepth = (a: Answer) => !a.ok && a.error === 'max-depth';
const same = (a: Answer, b: Answer) => a.ok && b.ok && a.value.join('\n') === b.value.join('\n');

/** `previousTypes`: resource types whose relationships SpiceDB holds from earlier cases. */
export async function findBoundaries(spicedb: Engine, pemba: Engine, previousTypes: string[]): Promise<Boundary[]> {
  const out: Boundary[] = [];
  let previous = previousTypes;
  for (const chain of CHAINS) {
    const found = chain.queries.map(
      (q) => ({ chain: chain.name, label: q.label, answerMismatches: [] as number[] }) as Boundary,
    );
    for (const n of LENGTHS) {
      const rels = chain.relationships(n);
      await spicedb.load(chain.schema, rels, [...new Set([...previous, ...chain.types])]);
      previous = chain.types;
      await pemba.load(chain.schema, rels, []);
      for (const [i, { query }] of chain.queries.entries()) {
        const s = await spicedb.run(query);
        const p = await pemba.run(query);
        if (isMaxDepth(s) && found[i].spicedb === undefined) found[i].spicedb = n;
        if (isMaxDepth(p) && found[i].pemba === undefined) found[i].pemba = n;
        if (s.ok && p.ok && !same(s, p)) found[i].answerMismatches.push(n);
      }
    }
    out.push(...found);
  }
  return out;
}

export function formatBoundary(b: Boundary): string {
  const at = (n?: number) => (n === undefined ? `none up to ${LENGTHS[LENGTHS.length - 1]}` : `from ${n}`);
  return `${b.label}: max depth in SpiceDB ${at(b.spicedb)}, in Pemba ${at(b.pemba)}${
    b.answerMismatches.length ? `; answers differ at lengths ${b.answerMismatches.join(', ')}` : ''
  }`;
}

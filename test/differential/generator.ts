/**
 * Seeded generator of random SpiceDB schemas and relationships for the differential test.
 *
 * Everything is a pure function of the seed (mulberry32), so a failing seed reproduces exactly.
 * The schemas use every operator (`+`, `&`, `-`, parentheses, `nil`), arrows (`->`, `.any()`,
 * `.all()`), wildcards, subject relations (`group#member`), recursive relations and permissions
 * referencing permissions, and are generated to pass SpiceDB's type checks:
 *   - names match `^[a-z][a-z0-9_]{1,62}[a-z0-9]$` (at least three characters);
 *   - a relation may not allow `T#r` when `T#r` transitively (through relations) includes a wildcard;
 *   - an arrow's left side is a relation (not a permission) that does not include a wildcard;
 *   - a permission references only relations and earlier-generated permissions of its definition,
 *     so there is no schema-level cycle of computed usersets (arrows may recurse through data).
 * Relationships use small id spaces (3–4 ids per type) so overlaps and, in "cyclic" cases, data
 * cycles are common. generator-wildcards.ts then adds, to some cases, wildcards that the subject sets
 * asked about meet, and generator-self.ts `use self` and `self`.
 */
import type { Relationship, SubjectRef } from '../../src/relationships/relationship.js';
import { addWildcardSubjectSets } from './generator-wildcards.js';
import { addSelf } from './generator-self.js';

export const ELLIPSIS = '...';

/** mulberry32: a tiny, fast, deterministic 32-bit PRNG. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    // Mix the seed so that consecutive seeds give unrelated streams.
    this.next = mulberry32(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ (seed >>> 13));
  }
  float(): number {
    return this.next();
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from empty list');
    return items[Math.floor(this.next() * items.length)];
  }
  /** Picks according to weights. */
  weighted<T>(items: readonly (readonly [T, number])[]): T {
    const total = items.reduce((s, [, w]) => s + w, 0);
    let x = this.next() * total;
    for (const [item, w] of items) {
      x -= w;
      if (x < 0) return item;
    }
    return items[items.length - 1][0];
  }
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }
  /** A random subset of `count` distinct items (order of the input kept). */
  sample<T>(items: readonly T[], count: number): T[] {
    const chosen = new Set(this.shuffle(items.map((_, i) => i)).slice(0, count));
    return items.filter((_, i) => chosen.has(i));
  }
}

// ---------------------------------------------------------------------------------------------
// Schema model

/** One entry of a relation's type list. */
export interface TypeRef {
  type: string;
  /** Absent: a plain object (`group`). Present: a subject set (`group#member`). */
  relation?: string;
  /** `user:*` */
  wildcard?: boolean;
}

export type Expr =
  | { op: 'ref'; name: string }
  | { op: 'arrow'; tupleset: string; target: string; fn: '->' | 'any' | 'all' }
  | { op: 'nil' }
  /** `self` (under `use self`, see generator-self.ts). */
  | { op: 'self' }
  | { op: '+' | '&' | '-'; left: Expr; right: Expr; parens: boolean };

export interface RelModel {
  name: string;
  kind: 'relation' | 'permission';
  /** For relations. */
  types: TypeRef[];
  /** For permissions. */
  expr?: Expr;
}

export interface DefModel {
  name: string;
  /** In the order they are written in the schema text. */
  relations: RelModel[];
  /** The object ids of this type used in relationships and queries. */
  ids: string[];
}

export interface SchemaModel {
  definitions: DefModel[];
  /** Declares `use self` (generator-self.ts). */
  useSelf?: boolean;
}

export interface GeneratedCase {
  seed: number;
  /** Regeneration attempt for this seed (non-zero only after SpiceDB rejected a schema). */
  attempt: number;
  /** Data cycles allowed (otherwise the object graph of the relationships is acyclic). */
  cyclic: boolean;
  model: SchemaModel;
  schema: string;
  relationships: Relationship[];
}

export function typeRefToString(t: TypeRef): string {
  if (t.wildcard) return `${t.type}:*`;
  return t.relation ? `${t.type}#${t.relation}` : t.type;
}

export function exprToString(e: Expr): string {
  switch (e.op) {
    case 'ref':
      return e.name;
    case 'nil':
      return 'nil';
    case 'self':
      return 'self';
    case 'arrow':
      return e.fn === '->' ? `${e.tupleset}->${e.target}` : `${e.tupleset}.${e.fn}(${e.target})`;
    default: {
      const s = `${exprToString(e.left)} ${e.op} ${exprToString(e.right)}`;
      return e.parens ? `(${s})` : s;
    }
  }
}

export function schemaToString(model: SchemaModel): string {
  const parts: string[] = model.useSelf ? ['use self'] : [];
  for (const def of model.definitions) {
    if (def.relations.length === 0) {
      parts.push(`definition ${def.name} {}`);
      continue;
    }
    const lines = [`definition ${def.name} {`];
    for (const r of def.relations) {
      if (r.kind === 'relation') lines.push(`  relation ${r.name}: ${r.types.map(typeRefToString).join(' | ')}`);
      else lines.push(`  permission ${r.name} = ${exprToString(r.expr!)}`);
    }
    lines.push('}');
    parts.push(lines.join('\n'));
  }
  return parts.join('\n\n') + '\n';
}

export function formatSubject(s: SubjectRef): string {
  return `${s.type}:${s.id}${s.relation && s.relation !== ELLIPSIS ? `#${s.relation}` : ''}`;
}

export function formatRelationship(r: Relationship): string {
  return `${r.resource.type}:${r.resource.id}#${r.relation}@${formatSubject(r.subject)}`;
}

// ---------------------------------------------------------------------------------------------
// Generation

const RELATION_NAMES: Record<string, string[]> = {
  group: ['member', 'manager', 'admin', 'banned', 'guest'],
  folder: ['parent', 'owner', 'viewer', 'editor', 'grp', 'banned'],
  document: ['folder', 'grp', 'reader', 'writer', 'owner', 'banned', 'parent'],
};
const PERMISSION_NAMES = [
  'view',
  'edit',
  'read',
  'write',
  'admin_p',
  'manage',
  'everyone',
  'access',
  'delete',
  'share',
];
const ID_PREFIX: Record<string, string> = { user: 'u', group: 'g', folder: 'f', document: 'd' };

/** Does `type#relation` (a relation) transitively include a wildcard through relation-typed subject sets? */
export function reachesWildcard(model: SchemaModel, type: string, relation: string, seen = new Set<string>()): boolean {
  const key = `${type}#${relation}`;
  if (seen.has(key)) return false;
  seen.add(key);
  const rel = model.definitions.find((d) => d.name === type)?.relations.find((r) => r.name === relation);
  if (!rel || rel.kind !== 'relation') return false;
  for (const t of rel.types) {
    if (t.wildcard) return true;
    if (t.relation && reachesWildcard(model, t.type, t.relation, seen)) return true;
  }
  return false;
}

function findDef(model: SchemaModel, name: string): DefModel | undefined {
  return model.definitions.find((d) => d.name === name);
}

/** Generates the case for one seed. */
export function generateCase(seed: number, attempt = 0): GeneratedCase {
  const rng = new Rng(attempt === 0 ? seed : seed ^ Math.imul(attempt, 0x632be5ab));
  const cyclic = rng.chance(0.35);

  const defNames = ['user', 'group', 'folder', 'document'];
  const model: SchemaModel = {
    definitions: defNames.map((name) => ({
      name,
      relations: [],
      ids: Array.from({ length: rng.int(3, 4) }, (_, i) => `${ID_PREFIX[name]}${i + 1}`),
    })),
  };

  // Phase 1: names. user stays empty (as in most real schemas) so that arrows over users are rare.
  const relNames = new Map<string, string[]>();
  const permNames = new Map<string, string[]>();
  for (const def of model.definitions.slice(1)) {
    const pool = RELATION_NAMES[def.name];
    const rels = rng.sample(pool, rng.int(2, Math.min(4, pool.length)));
    // Structural favourites that make recursion and arrows likely.
    if (def.name === 'group' && !rels.includes('member') && rng.chance(0.8)) rels.unshift('member');
    if (def.name === 'folder' && !rels.includes('parent') && rng.chance(0.7)) rels.unshift('parent');
    if (def.name === 'document' && !rels.includes('folder') && !rels.includes('parent') && rng.chance(0.6))
      rels.unshift('folder');
    relNames.set(def.name, rels);
    const perms = rng.sample(PERMISSION_NAMES, rng.int(1, 4));
    permNames.set(def.name, perms);
  }

  // Phase 2: relation types.
  const plainTypes = ['group', 'folder', 'document'];
  for (const def of model.definitions.slice(1)) {
    for (const name of relNames.get(def.name)!) {
      const types: TypeRef[] = [];
      const want = rng.weighted([
        [1, 5],
        [2, 4],
        [3, 2],
      ] as const);
      // Favourites.
      if (def.name === 'group' && name === 'member') {
        types.push({ type: 'user' });
        if (rng.chance(0.75)) types.push({ type: 'group', relation: 'member' });
      } else if (def.name === 'folder' && name === 'parent') {
        types.push({ type: 'folder' });
      } else if (def.name === 'document' && (name === 'folder' || name === 'parent')) {
        types.push({ type: 'folder' });
      } else if (name === 'grp') {
        types.push({ type: 'group' });
      }
      for (let attempt = 0; types.length < want && attempt < 10; attempt++) {
        const kind = rng.weighted([
          ['user', 5],
          ['wildcard', 2],
          ['plain', 2],
          ['subjectset', 3],
        ] as const);
        let t: TypeRef;
        if (kind === 'user') t = { type: 'user' };
        else if (kind === 'wildcard') t = { type: 'user', wildcard: true };
        else if (kind === 'plain') t = { type: rng.pick(plainTypes) };
        else {
          const target = rng.pick(plainTypes);
          const names = [...relNames.get(target)!, ...(rng.chance(0.3) ? permNames.get(target)! : [])];
          t = { type: target, relation: rng.pick(names) };
        }
        if (!types.some((x) => typeRefToString(x) === typeRefToString(t))) types.push(t);
      }
      def.relations.push({ name, kind: 'relation', types });
    }
  }
  // Permissions are added (as placeholders) before fixing up wildcards so subject sets on them resolve.
  for (const def of model.definitions.slice(1)) {
    for (const name of permNames.get(def.name)!) def.relations.push({ name, kind: 'permission', types: [] });
  }
  // SpiceDB: wildcard relations cannot be transitively included by a subject set. Drop offenders
  // until stable (removing one can't make another start reaching a wildcard, but loop to be safe).
  for (let changed = true; changed;) {
    changed = false;
    for (const def of model.definitions.slice(1)) {
      for (const rel of def.relations) {
        if (rel.kind !== 'relation') continue;
        const kept = rel.types.filter((t) => !(t.relation && reachesWildcard(model, t.type, t.relation)));
        if (kept.length !== rel.types.length) {
          rel.types = kept.length > 0 ? kept : [{ type: 'user' }];
          changed = true;
        }
      }
    }
  }

  // Phase 3: permission expressions.
  const partialArrows = rng.chance(0.15);
  for (const def of model.definitions.slice(1)) {
    const relations = def.relations.filter((r) => r.kind === 'relation');
    // Arrow left sides. Outside "partial arrow" cases, only relations whose subject types all have
    // the arrow's target (so no `user` among them, as user has no relations).
    const tuplesets = relations.filter(
      (r) =>
        !reachesWildcard(model, def.name, r.name) &&
        (partialArrows ? r.types.some((t) => t.type !== 'user') : r.types.every((t) => t.type !== 'user')),
    );
    const earlier: string[] = [];
    for (const perm of def.relations.filter((r) => r.kind === 'permission')) {
      const leaf = (): Expr => {
        const kind = rng.weighted([
          ['relation', 6],
          ['permission', earlier.length > 0 ? 3 : 0],
          ['arrow', tuplesets.length > 0 ? 5 : 0],
          ['nil', 0.6],
        ] as const);
        if (kind === 'relation') return { op: 'ref', name: rng.pick(relations).name };
        if (kind === 'permission') return { op: 'ref', name: rng.pick(earlier) };
        if (kind === 'nil') return { op: 'nil' };
        const ts = rng.pick(tuplesets);
        const subjectTypes = [...new Set(ts.types.map((t) => t.type))];
        const namesOf = (type: string) => findDef(model, type)?.relations.map((r) => r.name) ?? [];
        let candidates = namesOf(subjectTypes[0]).filter((n) => subjectTypes.every((t) => namesOf(t).includes(n)));
        if (partialArrows) {
          // SpiceDB accepts an arrow whose target exists on only some of the subject types.
          candidates = [...new Set(subjectTypes.flatMap(namesOf))];
        }
        if (candidates.length === 0) return { op: 'ref', name: rng.pick(relations).name };
        const fn = rng.weighted([
          ['->', 5],
          ['any', 1],
          ['all', 2],
        ] as const);
        return { op: 'arrow', tupleset: ts.name, target: rng.pick(candidates), fn };
      };
      const build = (depth: number): Expr => {
        if (depth <= 0 || rng.chance(0.3)) return leaf();
        const op = rng.weighted([
          ['+', 4],
          ['&', 2],
          ['-', 2],
        ] as const);
        return { op, left: build(depth - 1), right: build(depth - 1), parens: rng.chance(0.5) };
      };
      perm.expr = build(rng.int(0, 3));
      if (perm.expr.op === '+' || perm.expr.op === '&' || perm.expr.op === '-') perm.expr.parens = rng.chance(0.2);
      earlier.push(perm.name);
    }
  }
  // Forward references: sometimes write the members of a definition in shuffled order.
  for (const def of model.definitions.slice(1)) {
    if (rng.chance(0.3)) def.relations = rng.shuffle(def.relations);
  }

  const relationships = generateRelationships(model, rng, cyclic);
  addWildcardSubjectSets(model, relationships, seed ^ Math.imul(attempt, 0x632be5ab));
  addSelf(model, relationships, seed ^ Math.imul(attempt, 0x632be5ab));
  return { seed, attempt, cyclic, model, schema: schemaToString(model), relationships };
}

function generateRelationships(model: SchemaModel, rng: Rng, cyclic: boolean): Relationship[] {
  const out: Relationship[] = [];
  const seen = new Set<string>();
  // Object-level graph (resource object -> subject object) to keep acyclic cases acyclic.
  const edges = new Map<string, Set<string>>();
  const reaches = (from: string, to: string): boolean => {
    const stack = [from];
    const visited = new Set<string>();
    while (stack.length > 0) {
      const x = stack.pop()!;
      if (x === to) return true;
      if (visited.has(x)) continue;
      visited.add(x);
      for (const y of edges.get(x) ?? []) stack.push(y);
    }
    return false;
  };
  let cycleBudget = cyclic
    ? rng.weighted([
        [1, 3],
        [2, 1],
      ] as const)
    : 0;
  const density = rng.weighted([
    [0.3, 1],
    [0.5, 2],
    [0.7, 1],
  ] as const);
  for (const def of model.definitions) {
    for (const rel of def.relations) {
      if (rel.kind !== 'relation') continue;
      for (const id of def.ids) {
        if (!rng.chance(density)) continue;
        const count = rng.weighted([
          [1, 5],
          [2, 3],
          [3, 1],
        ] as const);
        for (let i = 0; i < count; i++) {
          const t = rng.pick(rel.types);
          const subjectDef = findDef(model, t.type)!;
          const subject: SubjectRef = {
            type: t.type,
            id: t.wildcard ? '*' : rng.pick(subjectDef.ids),
            relation: t.relation ?? ELLIPSIS,
          };
          const relationship: Relationship = { resource: { type: def.name, id }, relation: rel.name, subject };
          const key = formatRelationship(relationship);
          if (seen.has(key)) continue;
          const from = `${def.name}:${id}`;
          const to = `${subject.type}:${subject.id}`;
          if (!t.wildcard && reaches(to, from)) {
            // Closes a cycle. Only a few per case: SpiceDB has no cycle detection, and branching
            // cycles make its dispatch tree exponential (a LookupResources can then run for minutes).
            if (cycleBudget <= 0) continue;
            cycleBudget--;
          }
          seen.add(key);
          if (!edges.has(from)) edges.set(from, new Set());
          edges.get(from)!.add(to);
          out.push(relationship);
        }
      }
    }
  }
  return out;
}

/** All (resource type, relation-or-permission name) pairs of non-empty definitions. */
export function namesOf(model: SchemaModel, type: string): string[] {
  return findDef(model, type)?.relations.map((r) => r.name) ?? [];
}

/** Distinct subject-set and plain-object type references used in the schema's type lists. */
export function usedTypeRefs(model: SchemaModel): {
  plain: string[];
  subjectSets: { type: string; relation: string }[];
} {
  const plain = new Set<string>();
  const sets = new Map<string, { type: string; relation: string }>();
  for (const def of model.definitions) {
    for (const rel of def.relations) {
      for (const t of rel.types) {
        if (t.wildcard) continue;
        if (t.relation) sets.set(`${t.type}#${t.relation}`, { type: t.type, relation: t.relation });
        else if (t.type !== 'user') plain.add(t.type);
      }
    }
  }
  return {
    plain: [...plain].sort(),
    subjectSets: [...sets.values()].sort((a, b) => `${a.type}#${a.relation}`.localeCompare(`${b.type}#${b.relation}`)),
  };
}

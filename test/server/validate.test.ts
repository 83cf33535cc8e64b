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

// Expected messages are the ones SpiceDB 1.4x answers for the same requests.
describe('request validation from the protovalidate rules', () => {
  it('accepts a well-formed request', () => {
    expect(() =>
      validateMessage(v1.CheckPermissionRequest, check({ objectType: 'doc', objectId: 'a/b_c|d-e=f+g' })),
    ).not.toThrow();
    expect(() => validateMessage(v1.CheckPermissionRequest, check({ objectType: 'doc', objectId: '*' }))).not.toThrow();
  });

  it('requires required messages', () => {
    expect(messageOf(() => validateMessage(v1.CheckPermissionRequest, check(undefined)))).toBe(
      'validation error: resource: value is required',
    );
  });

  it('checks patterns in nested messages, naming the field path', () => {
    expect(
      messageOf(() => validateMessage(v1.CheckPermissionRequest, check({ objectType: 'doc', objectId: 'has space' }))),
    ).toBe('validation error: resource.object_id: does not match regex pattern `^(([a-zA-Z0-9/_|\\-=+]{1,})|\\*)$`');
    expect(
      messageOf(() => validateMessage(v1.CheckPermissionRequest, check({ objectType: 'doc', objectId: '1' }, 'View'))),
    ).toMatch(/^validation error: permission: /);
  });

  it('lists several violations', () => {
    expect(
      messageOf(() => validateMessage(v1.CheckPermissionRequest, check({ objectType: 'Doc', objectId: 'a b' }))),
    ).toBe(
      'validation errors:\n - resource.object_type: does not match regex pattern `^([a-z][a-z0-9_]{1,61}[a-z0-9]/)*[a-z][a-z0-9_]{1,62}[a-z0-9]$`\n' +
        ' - resource.object_id: does not match regex pattern `^(([a-zA-Z0-9/_|\\-=+]{1,})|\\*)$`',
    );
  });

  it('checks byte lengths, enums and repeated items', () => {
    expect(
      messageOf(() =>
        validateMessage(v1.CheckPermissionRequest, check({ objectType: 'doc', objectId: 'x'.repeat(1025) })),
      ),
    ).toBe('validation error: resource.object_id: must be at most 1024 bytes');
    const relationship = v1.Relationship.create({
      resource: { objectType: 'doc', objectId: '1' },
      relation: 'reader',
      subject: { object: { objectType: 'user', objectId: 'a' } },
    });
    expect(
      messageOf(() =>
        validateMessage(
          v1.WriteRelationshipsRequest,
          v1.WriteRelationshipsRequest.create({ updates: [{ operation: 0, relationship }] }),
        ),
      ),
    ).toBe('validation error: updates[0].operation: must not be in list [0]');
    expect(
      messageOf(() =>
        validateMessage(
          v1.WriteRelationshipsRequest,
          v1.WriteRelationshipsRequest.create({
            updates: [{ operation: 7 as v1.RelationshipUpdate_Operation, relationship }],
          }),
        ),
      ),
    ).toBe('validation error: updates[0].operation: value must be one of the defined enum values');
  });

  it('checks fields inside oneofs and nested filters', () => {
    const req = v1.CheckPermissionRequest.create({
      ...check({ objectType: 'doc', objectId: '1' }),
      consistency: { requirement: { oneofKind: 'atLeastAsFresh', atLeastAsFresh: { token: '' } } },
    });
    expect(messageOf(() => validateMessage(v1.CheckPermissionRequest, req))).toBe(
      'validation error: consistency.at_least_as_fresh.token: must be at least 1 bytes',
    );
    const read = v1.ReadRelationshipsRequest.create({
      relationshipFilter: {
        resourceType: 'doc',
        optionalSubjectFilter: { subjectType: 'user', optionalRelation: { relation: 'BAD' } },
      },
    });
    expect(messageOf(() => validateMessage(v1.ReadRelationshipsRequest, read))).toMatch(
      /^validation error: relationship_filter\.optional_subject_filter\.optional_relation\.relation: does not match/,
    );
  });
});

import { v1 } from '@authzed/authzed-node';
import { describe, expect, it } from 'vitest';
import * as c from '../../src/api/convert.js';

describe('API ↔ Pemba conversion', () => {
  it('maps an empty optional_relation to ... and back', () => {
    const api = v1.SubjectReference.create({ object: { objectType: 'user', objectId: 'ann' } });
    expect(c.subjectRef(api)).toEqual({ type: 'user', id: 'ann', relation: '...' });
    expect(c.toSubjectReference({ type: 'user', id: 'ann', relation: '...' }).optionalRelation).toBe('');
    expect(c.subjectRef({ ...api, optionalRelation: 'member' }).relation).toBe('member');
  });

  it('round-trips relationships with caveat and expiration', () => {
    const r = {
      resource: { type: 'doc', id: '1' },
      relation: 'reader',
      subject: { type: 'group', id: 'eng', relation: 'member' },
      caveat: { name: 'ip', context: { cidr: '10.0.0.0/8', n: 3 } },
      expiresAt: new Date('2030-01-02T03:04:05.678Z'),
    };
    const api = c.toApiRelationship(r);
    expect(api.optionalExpiresAt).toEqual({ seconds: String(Date.parse('2030-01-02T03:04:05Z') / 1000), nanos: 678e6 });
    const back = c.relationship(v1.Relationship.fromBinary(v1.Relationship.toBinary(api)));
    expect(back).toEqual(r);
  });

  it('maps relationship filters, with a present-but-empty subject relation meaning direct subjects', () => {
    const f = v1.RelationshipFilter.create({
      resourceType: 'doc',
      optionalResourceIdPrefix: 'a',
      optionalSubjectFilter: { subjectType: 'user', optionalSubjectId: '', optionalRelation: { relation: '' } },
    });
    expect(c.relationshipFilter(f)).toEqual({
      resourceType: 'doc',
      resourceIdPrefix: 'a',
      subject: { type: 'user', relation: '...' },
    });
    const noRel = v1.RelationshipFilter.create({ optionalSubjectFilter: { subjectType: 'user' } });
    expect(c.relationshipFilter(noRel)).toEqual({ subject: { type: 'user' } });
    expect(
      c.relationshipFilter(
        c.toApiRelationshipFilter({ resourceType: 'doc', subject: { type: 'group', relation: 'member' } }),
      ),
    ).toEqual({ resourceType: 'doc', subject: { type: 'group', relation: 'member' } });
  });

  it('maps consistency requirements', () => {
    expect(c.consistency(undefined)).toBeUndefined();
    expect(c.consistency({ requirement: { oneofKind: 'fullyConsistent', fullyConsistent: true } })).toEqual({
      mode: 'fully_consistent',
    });
    expect(c.consistency({ requirement: { oneofKind: 'minimizeLatency', minimizeLatency: true } })).toEqual({
      mode: 'minimize_latency',
    });
    expect(c.consistency({ requirement: { oneofKind: 'atLeastAsFresh', atLeastAsFresh: { token: 't' } } })).toEqual({
      mode: 'at_least_as_fresh',
      token: 't',
    });
    expect(c.consistency({ requirement: { oneofKind: 'atExactSnapshot', atExactSnapshot: { token: 'u' } } })).toEqual({
      mode: 'at_exact_snapshot',
      token: 'u',
    });
  });

  it('maps update operations and rejects UNSPECIFIED', () => {
    const relationship = c.toApiRelationship({
      resource: { type: 'doc', id: '1' },
      relation: 'r',
      subject: { type: 'user', id: 'a', relation: '...' },
    });
    expect(c.relationshipUpdate({ operation: v1.RelationshipUpdate_Operation.CREATE, relationship }).operation).toBe(
      'CREATE',
    );
    expect(c.relationshipUpdate({ operation: v1.RelationshipUpdate_Operation.DELETE, relationship }).operation).toBe(
      'DELETE',
    );
    expect(() =>
      c.relationshipUpdate({ operation: v1.RelationshipUpdate_Operation.UNSPECIFIED, relationship }),
    ).toThrow(/unknown/);
    expect(
      c.precondition({
        operation: v1.Precondition_Operation.MUST_MATCH,
        filter: v1.RelationshipFilter.create({ resourceType: 'doc' }),
      }),
    ).toEqual({ operation: 'MUST_MATCH', filter: { resourceType: 'doc' } });
  });

  it('converts expand trees', () => {
    const tree = c.toApiTree({
      kind: 'intermediate',
      operation: 'exclusion',
      expandedObject: { type: 'doc', id: '1' },
      expandedRelation: 'view',
      children: [
        {
          kind: 'leaf',
          subjects: [{ type: 'user', id: 'a', relation: '...' }],
          expandedObject: { type: 'doc', id: '1' },
          expandedRelation: 'reader',
        },
      ],
    });
    expect(tree.treeType.oneofKind).toBe('intermediate');
    if (tree.treeType.oneofKind !== 'intermediate') return;
    expect(tree.treeType.intermediate.operation).toBe(v1.AlgebraicSubjectSet_Operation.EXCLUSION);
    const leaf = tree.treeType.intermediate.children[0];
    expect(leaf.treeType.oneofKind === 'leaf' && leaf.treeType.leaf.subjects[0]).toEqual({
      object: { objectType: 'user', objectId: 'a' },
      optionalRelation: '',
    });
  });

  it('converts caveat context structs', () => {
    const s = c.objectToStruct({ a: 1, b: 'x', c: [true, null], d: { e: 2 } });
    expect(c.structToObject(v1.PbStruct.fromBinary(v1.PbStruct.toBinary(s!)))).toEqual({
      a: 1,
      b: 'x',
      c: [true, null],
      d: { e: 2 },
    });
  });
});

import { describe, expect, it } from 'vitest';
import { PembaError } from '../../src/errors/index.js';
import {
  formatRelationship,
  parseObjectAndRelation,
  parseRelationship,
  parseSubject,
} from '../../src/relationships/relationship-string.js';

describe('parseRelationship', () => {
  it('parses a plain relationship', () => {
    expect(parseRelationship('document:doc1#reader@user:tom')).toEqual({
      resource: { type: 'document', id: 'doc1' },
      relation: 'reader',
      subject: { type: 'user', id: 'tom', relation: '...' },
    });
  });

  it('parses subject sets, explicit ellipsis and wildcards', () => {
    expect(parseRelationship('document:doc1#reader@group:eng#member').subject).toEqual({
      type: 'group',
      id: 'eng',
      relation: 'member',
    });
    expect(parseRelationship('document:doc1#reader@user:tom#...').subject).toEqual({
      type: 'user',
      id: 'tom',
      relation: '...',
    });
    expect(parseRelationship('document:doc1#reader@user:*').subject).toEqual({
      type: 'user',
      id: '*',
      relation: '...',
    });
  });

  it('accepts prefixed types and SpiceDB id characters', () => {
    const r = parseRelationship('org/team/doc:--=base64YWZz-ZHN+/fmI==#writer@org/user:a|b_c');
    expect(r.resource).toEqual({ type: 'org/team/doc', id: '--=base64YWZz-ZHN+/fmI==' });
    expect(r.subject.id).toBe('a|b_c');
  });

  it('parses caveats with and without context', () => {
    expect(parseRelationship('document:d#viewer@user:sarah[some_caveat]').caveat).toEqual({ name: 'some_caveat' });
    expect(
      parseRelationship('document:d#viewer@user:tom[some_caveat:{"somelist": [42, 43], "s": "a]b}"}]').caveat,
    ).toEqual({
      name: 'some_caveat',
      context: { somelist: [42, 43], s: 'a]b}' },
    });
    expect(parseRelationship('r:1#viewer@g:1#member[foo/bar/only_on_tuesday]').caveat?.name).toBe(
      'foo/bar/only_on_tuesday',
    );
  });

  it('parses expiration alone and after a caveat', () => {
    const e = parseRelationship('document:d#viewer@user:tracy[expiration:2023-12-01T00:00:00Z]');
    expect(e.expiresAt?.toISOString()).toBe('2023-12-01T00:00:00.000Z');
    expect(e.caveat).toBeUndefined();
    const both = parseRelationship(
      'document:d#viewer@user:s[somecaveat:{"somecondition":42}][expiration:2300-12-01T00:00:00Z]',
    );
    expect(both.caveat).toEqual({ name: 'somecaveat', context: { somecondition: 42 } });
    expect(both.expiresAt?.toISOString()).toBe('2300-12-01T00:00:00.000Z');
  });

  it.each([
    ['document:doc1#reader', /`@`/],
    ['document#reader@user:tom', /type:id/],
    ['document:doc1@user:tom', /resource:id#relation/],
    ['Document:doc1#reader@user:tom', /resource type `Document`/],
    ['document:doc 1#reader@user:tom', /resource id `doc 1`/],
    ['document:*#reader@user:tom', /wildcard/],
    ['document:doc1#reader@user:', /missing subject id/],
    ['document:doc1#reader@user:*#member', /wildcard subject cannot have a relation/],
    ['document:doc1#Reader@user:tom', /resource relation `Reader`/],
    ['document:doc1#reader@user:tom[cav', /unclosed|expected `]`/],
    ['document:doc1#reader@user:tom[cav:{"a":]', /not valid JSON|unterminated/],
    ['document:doc1#reader@user:tom[cav:[1]]', /must be a JSON object/],
    ['document:doc1#reader@user:tom[expiration:tomorrow]', /RFC 3339/],
    ['document:doc1#reader@user:tom[expiration:2030-01-01T00:00:00Z][cav]', /caveat must come before/],
    ['document:doc1#reader@user:tom[a][b]', /only one caveat/],
    ['document:doc1#reader@user:tom junk', /subject id `tom junk`/],
  ])('rejects %s', (text, message) => {
    let error: unknown;
    try {
      parseRelationship(text);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PembaError);
    expect((error as PembaError).code).toBe('INVALID_ARGUMENT');
    expect((error as PembaError).message).toMatch(message);
    expect((error as PembaError).message).toContain(text);
  });
});

describe('formatRelationship', () => {
  it.each([
    'document:doc1#reader@user:tom',
    'document:doc1#reader@group:eng#member',
    'document:doc1#reader@user:*',
    'document:d#viewer@user:sarah[some_caveat]',
    'document:d#viewer@user:tom[some_caveat:{"somelist":[42,43]}]',
    'document:d#viewer@user:tom[expiration:2023-12-01T00:00:00Z]',
    'document:d#viewer@user:tom[c:{"x":1}][expiration:2023-12-01T00:00:00.500Z]',
  ])('round-trips %s', (text) => {
    expect(formatRelationship(parseRelationship(text))).toBe(text);
  });

  it('drops the explicit ellipsis', () => {
    expect(formatRelationship(parseRelationship('document:doc1#reader@user:tom#...'))).toBe(
      'document:doc1#reader@user:tom',
    );
  });
});

describe('parseObjectAndRelation and parseSubject', () => {
  it('parses object and relation', () => {
    expect(parseObjectAndRelation('document:doc1#view')).toEqual({ type: 'document', id: 'doc1', relation: 'view' });
    expect(() => parseObjectAndRelation('document:doc1')).toThrow(/type:id#relation/);
    expect(() => parseObjectAndRelation('document:doc1#...')).toThrow(/not a relation/);
  });

  it('parses subjects', () => {
    expect(parseSubject('user:tom')).toEqual({ type: 'user', id: 'tom', relation: '...' });
    expect(parseSubject('group:eng#member')).toEqual({ type: 'group', id: 'eng', relation: 'member' });
    expect(parseSubject('user:*')).toEqual({ type: 'user', id: '*', relation: '...' });
  });
});

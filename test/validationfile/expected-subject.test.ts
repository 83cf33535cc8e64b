import { describe, expect, it } from 'vitest';
import { formatExpectedSubject, parseExpectedSubject } from '../../src/validationfile/expected-subject.js';
import { parseAssertion } from '../../src/validationfile/assertion.js';

describe('parseExpectedSubject', () => {
  it('parses subjects, subject sets and reasons', () => {
    expect(parseExpectedSubject('[user:tom] is <document:1#viewer>/<document:1#editor>')).toEqual({
      text: '[user:tom] is <document:1#viewer>/<document:1#editor>',
      subject: { type: 'user', id: 'tom', relation: '...', caveated: false },
      excluded: [],
      reasons: [
        { type: 'document', id: '1', relation: 'viewer' },
        { type: 'document', id: '1', relation: 'editor' },
      ],
    });
    expect(parseExpectedSubject('[group:eng#member] is <org/doc:a/b#viewer>').subject).toEqual({
      type: 'group',
      id: 'eng',
      relation: 'member',
      caveated: false,
    });
    expect(parseExpectedSubject('[org/doc:a/b] is <org/doc:a/b#viewer>').reasons).toEqual([
      { type: 'org/doc', id: 'a/b', relation: 'viewer' },
    ]);
  });

  it('parses wildcards with exclusions and caveated subjects', () => {
    const e = parseExpectedSubject('[user:* - {user:a, user:b[...]}] is <document:1#viewer>');
    expect(e.subject).toMatchObject({ id: '*', caveated: false });
    expect(e.excluded).toEqual([
      { type: 'user', id: 'a', relation: '...', caveated: false },
      { type: 'user', id: 'b', relation: '...', caveated: true },
    ]);
    expect(parseExpectedSubject('[user:tom[...]] is <document:1#viewer>').subject.caveated).toBe(true);
  });

  it('allows leaving out the reasons', () => {
    expect(parseExpectedSubject('[user:alice]').reasons).toBeUndefined();
  });

  it.each([
    ['user:tom is <d:1#v>', /`\[subject\]`/],
    ['[user:tom is <d:1#v>', /unclosed/],
    ['[user:tom] <d:1#v>', /expected `is/],
    ['[user:tom] is d:1#v', /<object#relation>/],
    ['[user:tom] is <d:1#v>/d:1#w', /<object#relation>/],
    ['[user:tom] is <d:1>', /type:id#relation/],
    ['[user:tom - {user:a}] is <d:1#v>', /only a wildcard/],
    ['[user:* - user:a] is <d:1#v>', /exclusions must be written/],
    ['[] is <d:1#v>', /missing subject/],
  ])('rejects %s', (text, message) => {
    expect(() => parseExpectedSubject(text)).toThrow(message);
  });

  it('formats canonically', () => {
    for (const text of [
      '[user:tom] is <document:1#viewer>/<document:1#editor>',
      '[user:* - {user:a, user:b[...]}] is <d:1#v>',
      '[group:g#member[...]]',
    ]) {
      expect(formatExpectedSubject(parseExpectedSubject(text))).toBe(text);
    }
  });
});

describe('parseAssertion', () => {
  it('splits off the context', () => {
    expect(parseAssertion('document:1#view@user:tom with {"a": {"b": [1]}}')).toEqual({
      resource: { type: 'document', id: '1' },
      permission: 'view',
      subject: { type: 'user', id: 'tom', relation: '...' },
      context: { a: { b: [1] } },
    });
    expect(parseAssertion('document:1#view@group:g#member').subject).toEqual({
      type: 'group',
      id: 'g',
      relation: 'member',
    });
  });

  it('rejects caveats on the relationship and bad context', () => {
    expect(() => parseAssertion('document:1#view@user:tom[cav]')).toThrow(/cannot carry a caveat/);
    expect(() => parseAssertion('document:1#view@user:tom with [1]')).toThrow(/must be a JSON object|`@`|invalid/);
    expect(() => parseAssertion('document:1#view@user:tom with {"a":}')).toThrow(/not valid JSON/);
  });
});

import { describe, expect, it } from 'vitest';
import type { ExpandTree } from '../../src/requests/requests.js';
import { MembershipResolver, MembershipSet } from '../../src/validationfile/membership.js';
import type { FoundSubject } from '../../src/validationfile/membership.js';
import { parseSubject } from '../../src/relationships/relationship-string.js';

const found = (subject: string, reasons: string[], excluded: string[] = []): FoundSubject => ({
  subject: parseSubject(subject),
  excluded: new Set(excluded),
  reasons: new Set(reasons),
});
const set = (...f: FoundSubject[]) => MembershipSet.of(f);
const show = (s: MembershipSet) =>
  [...s.subjects.values()]
    .map((f) => {
      const ex = f.excluded.size ? ` - {${[...f.excluded].sort().join(',')}}` : '';
      return `${f.subject.type}:${f.subject.id}${f.subject.relation === '...' ? '' : '#' + f.subject.relation}${ex} <${[...f.reasons].sort().join('/')}>`;
    })
    .sort();

describe('MembershipSet', () => {
  it('unions, merging reasons and narrowing wildcard exclusions', () => {
    const a = set(found('user:tom', ['d:1#a']), found('user:*', ['d:1#a'], ['x', 'y']));
    const b = set(found('user:tom', ['d:1#b']), found('user:*', ['d:1#b'], ['y', 'z']), found('user:x', ['d:1#b']));
    expect(show(a.union(b))).toEqual(['user:* - {y} <d:1#a/d:1#b>', 'user:tom <d:1#a/d:1#b>', 'user:x <d:1#b>']);
  });

  it('intersects concrete subjects with wildcards', () => {
    const a = set(found('user:tom', ['d:1#a']), found('user:ann', ['d:1#a']), found('group:g#member', ['d:1#a']));
    const b = set(found('user:*', ['d:1#b'], ['ann']), found('group:g#member', ['d:1#b']));
    expect(show(a.intersect(b))).toEqual(['group:g#member <d:1#a/d:1#b>', 'user:tom <d:1#a/d:1#b>']);
    expect(show(b.intersect(a))).toEqual(['group:g#member <d:1#a/d:1#b>', 'user:tom <d:1#a/d:1#b>']);
    const w = set(found('user:*', ['d:1#c'], ['bob']));
    expect(show(b.intersect(w))).toEqual(['user:* - {ann,bob} <d:1#b/d:1#c>']);
  });

  it('subtracts, turning wildcards minus subjects into exclusions', () => {
    const base = set(found('user:*', ['d:1#a']), found('user:tom', ['d:1#a']), found('user:ann', ['d:1#a']));
    expect(show(base.subtract(set(found('user:tom', ['d:1#b']))))).toEqual([
      'user:* - {tom} <d:1#a>',
      'user:ann <d:1#a>',
    ]);
    expect(show(base.subtract(set(found('user:*', ['d:1#b'], ['ann', 'zed']))))).toEqual([
      'user:ann <d:1#a>',
      'user:zed <d:1#a>',
    ]);
    expect(show(set(found('user:tom', ['d:1#a'])).subtract(set(found('user:*', ['x:1#y'], ['tom']))))).toEqual([
      'user:tom <d:1#a>',
    ]);
  });
});

describe('MembershipResolver', () => {
  const leaf = (onr: string, subjects: string[]): ExpandTree => {
    const [obj, relation] = onr.split('#');
    const [type, id] = obj.split(':');
    return {
      kind: 'leaf',
      subjects: subjects.map(parseSubject),
      expandedObject: { type, id },
      expandedRelation: relation,
    };
  };
  const node = (op: 'union' | 'intersection' | 'exclusion', onr: string, ...children: ExpandTree[]): ExpandTree => {
    const [obj, relation] = onr.split('#');
    const [type, id] = obj.split(':');
    return { kind: 'intermediate', operation: op, children, expandedObject: { type, id }, expandedRelation: relation };
  };

  it('expands subject sets in place, lists them, and survives cycles', async () => {
    const trees: Record<string, ExpandTree> = {
      'doc:1#view': node(
        'exclusion',
        'doc:1#view',
        node(
          'union',
          'doc:1#view',
          leaf('doc:1#viewer', ['user:tom', 'group:eng#member']),
          leaf('doc:1#editor', ['user:ann']),
        ),
        leaf('doc:1#banned', ['user:bob']),
      ),
      'group:eng#member': leaf('group:eng#member', ['user:bob', 'user:cat', 'group:ops#member']),
      'group:ops#member': leaf('group:ops#member', ['user:dan', 'group:eng#member']),
    };
    const resolver = new MembershipResolver(async (r, rel) => trees[`${r.type}:${r.id}#${rel}`]);
    const m = await resolver.membership({ type: 'doc', id: '1' }, 'view');
    expect(show(m)).toEqual([
      'group:eng#member <doc:1#viewer/group:ops#member>',
      'group:ops#member <group:eng#member>',
      'user:ann <doc:1#editor>',
      'user:cat <group:eng#member>',
      'user:dan <group:ops#member>',
      'user:tom <doc:1#viewer>',
    ]);
    expect(show(await resolver.membership({ type: 'group', id: 'ops' }, 'member'))).toEqual([
      'group:eng#member <group:ops#member>',
      'group:ops#member <group:eng#member>',
      'user:bob <group:eng#member>',
      'user:cat <group:eng#member>',
      'user:dan <group:ops#member>',
    ]);
  });

  it('treats an intersection without children as empty', async () => {
    const resolver = new MembershipResolver(async () => node('intersection', 'doc:1#all'));
    expect(show(await resolver.membership({ type: 'doc', id: '1' }, 'all'))).toEqual([]);
  });
});

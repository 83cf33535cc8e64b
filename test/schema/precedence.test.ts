/**
 * Operator precedence and associativity. The truth tables below were recorded from real SpiceDB
 * (v1.54): each user is a member of exactly the listed relations of one document, and SpiceDB
 * answered CheckPermission for each permission. They show `+` binds tighter than `&`, `&` tighter
 * than `-`, and `-` is left-associative (`a - b - c` is `(a - b) - c`; `a - b + c` is `a - (b + c)`).
 */
import { describe, expect, it } from 'vitest';
import { compileSchema, printRewrite } from '../../src/schema/index.js';
import type { Rewrite } from '../../src/schema/ir.js';

const USERS: Record<string, string[]> = {
  only_a: ['aaa'],
  only_b: ['bbb'],
  only_c: ['ccc'],
  ab: ['aaa', 'bbb'],
  ac: ['aaa', 'ccc'],
  bc: ['bbb', 'ccc'],
  abc: ['aaa', 'bbb', 'ccc'],
};

/** Users SpiceDB granted each permission. */
const SPICEDB: Array<[string, string[]]> = [
  ['aaa - bbb + ccc', ['only_a']],
  ['aaa + bbb & ccc', ['abc', 'ac', 'bc']],
  ['aaa & bbb + ccc', ['abc', 'ab', 'ac']],
  ['aaa - bbb & ccc', ['only_a', 'ab', 'ac']],
  ['aaa & bbb - ccc', ['ab']],
  ['aaa - bbb - ccc', ['only_a']],
  ['aaa + bbb - ccc', ['only_a', 'ab', 'only_b']],
  ['aaa + bbb - ccc + aaa', ['only_b']],
  ['aaa - bbb & ccc + aaa', ['only_a', 'ac']],
  ['(aaa - bbb) + ccc', ['only_a', 'only_c', 'abc', 'ac', 'bc']],
  ['aaa - nil', ['only_a', 'abc', 'ab', 'ac']],
  ['aaa & nil', []],
  ['nil + bbb', ['abc', 'ab', 'bc', 'only_b']],
];

const compileExpr = (expr: string): Rewrite =>
  compileSchema(
    `definition user {}\ndefinition doc {\n  relation aaa: user\n  relation bbb: user\n  relation ccc: user\n  permission ppp = ${expr}\n}`,
  )
    .definitions.get('doc')!
    .relations.get('ppp')!.rewrite;

function holds(r: Rewrite, member: Set<string>): boolean {
  switch (r.kind) {
    case 'computed':
      return member.has(r.relation);
    case 'nil':
      return false;
    case 'union':
      return r.children.some((c) => holds(c, member));
    case 'intersection':
      return r.children.every((c) => holds(c, member));
    case 'exclusion':
      return holds(r.base, member) && !holds(r.subtract, member);
    default:
      throw new Error(`unexpected ${r.kind}`);
  }
}

describe('precedence and associativity, as SpiceDB evaluates them', () => {
  it.each(SPICEDB)('%s', (expr, granted) => {
    const rewrite = compileExpr(expr);
    const ours = Object.keys(USERS).filter((u) => holds(rewrite, new Set(USERS[u])));
    expect(ours.sort()).toEqual([...granted].sort());
  });
});

const c = (relation: string): Rewrite => ({ kind: 'computed', relation });

describe('rewrite trees', () => {
  it('binds + over & over -', () => {
    expect(compileExpr('aaa - bbb & ccc + aaa')).toEqual({
      kind: 'exclusion',
      base: c('aaa'),
      subtract: { kind: 'intersection', children: [c('bbb'), { kind: 'union', children: [c('ccc'), c('aaa')] }] },
    });
  });

  it('keeps exclusion binary and left-associative', () => {
    expect(compileExpr('aaa - bbb - ccc')).toEqual({
      kind: 'exclusion',
      base: { kind: 'exclusion', base: c('aaa'), subtract: c('bbb') },
      subtract: c('ccc'),
    });
    expect(compileExpr('aaa - (bbb - ccc)')).toEqual({
      kind: 'exclusion',
      base: c('aaa'),
      subtract: { kind: 'exclusion', base: c('bbb'), subtract: c('ccc') },
    });
  });

  it('flattens nested unions and intersections of the same operator, parenthesised or not', () => {
    const flat = { kind: 'union', children: [c('aaa'), c('bbb'), c('ccc'), c('aaa')] };
    expect(compileExpr('aaa + bbb + ccc + aaa')).toEqual(flat);
    expect(compileExpr('aaa + (bbb + (ccc + aaa))')).toEqual(flat);
    expect(compileExpr('(aaa & bbb) & (ccc & aaa)')).toEqual({
      kind: 'intersection',
      children: [c('aaa'), c('bbb'), c('ccc'), c('aaa')],
    });
  });

  it('does not flatten across different operators', () => {
    expect(compileExpr('(aaa & bbb) + ccc')).toEqual({
      kind: 'union',
      children: [{ kind: 'intersection', children: [c('aaa'), c('bbb')] }, c('ccc')],
    });
  });

  it('binds arrows tightest', () => {
    const r = compileSchema(
      'definition user {}\ndefinition doc {\n  relation parent: doc\n  relation aaa: user\n  permission ppp = parent->ppp + aaa & parent.all(aaa) - parent.any(ppp)\n}',
    )
      .definitions.get('doc')!
      .relations.get('ppp')!.rewrite;
    expect(r).toEqual({
      kind: 'exclusion',
      base: {
        kind: 'intersection',
        children: [
          {
            kind: 'union',
            children: [{ kind: 'tupleToUserset', tupleset: 'parent', computed: 'ppp', mode: 'any' }, c('aaa')],
          },
          { kind: 'tupleToUserset', tupleset: 'parent', computed: 'aaa', mode: 'all' },
        ],
      },
      subtract: { kind: 'tupleToUserset', tupleset: 'parent', computed: 'ppp', mode: 'any' },
    });
  });

  it('prints with explicit parentheses around every compound operand', () => {
    expect(printRewrite(compileExpr('aaa - bbb & ccc + aaa'))).toBe('aaa - (bbb & (ccc + aaa))');
    expect(printRewrite(compileExpr('aaa - bbb - ccc'))).toBe('(aaa - bbb) - ccc');
    expect(printRewrite(compileExpr('aaa + bbb & ccc'))).toBe('(aaa + bbb) & ccc');
    expect(printRewrite(compileExpr('aaa + bbb + nil'))).toBe('aaa + bbb + nil');
  });
});

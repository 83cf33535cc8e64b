/**
 * The CEL conformance suite (@bufbuild/cel-spec): for every test of the standard language that needs
 * no declarations, the caveat type checker must infer the type cel-go infers (or reject what cel-go
 * rejects), and every boolean test must evaluate to its expected value through evaluateCaveat.
 * Left out: constructing protobuf messages other than Timestamp and Duration (wrappers, Struct, Value,
 * test messages), which caveats have no use for; optional types (`optional.of`, `.?`), which
 * @bufbuild/cel's parser lacks (SpiceDB accepts `m.?k.orValue(1)`: a known difference); and the test of
 * a parser nesting limit lower than the 250 SpiceDB uses.
 */
import { parse } from '@bufbuild/cel';
import { tests } from '@bufbuild/cel-spec/testdata/conformance.js';
import { describe, expect, it } from 'vitest';
import { typeCheckExpression } from '../../src/caveats/type-check.js';
import { compileCaveat, evaluateCaveat } from '../../src/caveats/index.js';
import { formatType } from '../../src/caveats/types.js';

interface Suite {
  name: string;
  suites?: Suite[];
  tests?: {
    original: Record<string, unknown> & { expr: string; value?: Record<string, unknown> };
    type?: string;
    error?: string;
  }[];
}

const SUITES = new Set([
  'basic',
  'comparisons',
  'conversions',
  'fp_math',
  'integer_math',
  'lists',
  'logic',
  'macros',
  'macros2',
  'string',
  'timestamps',
  'parse',
  'plumbing',
  'type_deductions',
  'namespace',
  'dynamic',
]);

const cases: { path: string; expr: string; type: string; bool?: boolean }[] = [];
(function walk(s: Suite, path: string[]) {
  for (const t of s.tests ?? []) {
    const o = t.original;
    if (!SUITES.has(path[1] ?? s.name) || o.typeEnv || o.bindings || o.disableCheck || o.container) continue;
    if (/google\.protobuf\.(?!Timestamp|Duration)|TestAllTypes|NestedTestAllTypes/.test(o.expr)) continue;
    if (o.expr === 'type' || o.expr === 'type(type)') continue; // the type of `type` itself
    if (/optional\./.test(o.expr) || (s.name === 'nest' && t.error)) continue;
    const value = o.value as { boolValue?: boolean } | undefined;
    cases.push({
      path: [...path, s.name].join('/'),
      expr: o.expr,
      type: t.type ?? (t.error ? 'error' : '?'),
      bool: value && 'boolValue' in value ? Boolean(value.boolValue) : undefined,
    });
  }
  for (const c of s.suites ?? []) walk(c, [...path, s.name]);
})(tests as Suite, []);

function inferred(expr: string): string {
  try {
    return formatType(typeCheckExpression(parse(expr).expr, new Map()));
  } catch {
    return 'error';
  }
}

describe('CEL conformance suite', () => {
  it('covers the standard language', () => {
    expect(cases.length).toBeGreaterThan(950);
    expect(cases.filter((c) => c.bool !== undefined).length).toBeGreaterThan(450);
  });

  it('infers the types cel-go infers', () => {
    const differ = cases
      .filter((c) => inferred(c.expr) !== c.type)
      .map((c) => `${c.path}: ${c.expr} (${inferred(c.expr)} ≠ ${c.type})`);
    expect(differ).toEqual([]);
  });

  it('evaluates the boolean tests to their expected values', () => {
    const differ: string[] = [];
    for (const c of cases) {
      if (c.bool === undefined || c.type !== 'bool') continue;
      const result = evaluateCaveat(compileCaveat({ name: 'c', parameters: new Map(), expression: c.expr }), {});
      if (result.kind !== String(c.bool)) differ.push(`${c.path}: ${c.expr} → ${result.kind}`);
    }
    expect(differ).toEqual([]);
  });
});

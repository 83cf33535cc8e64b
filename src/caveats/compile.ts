/**
 * Compiling a caveat: parse its CEL expression (@bufbuild/cel), type-check it against the declared
 * parameters, and prepare it for evaluation. Errors are SchemaErrors at their place in the schema text,
 * worded like SpiceDB's (`invalid expression for caveat \`c\`: …`).
 */
import { SchemaError } from '../errors/index.js';
import type { CaveatDefinition, CaveatParameterType, SourcePosition } from '../schema/ir.js';
import { children, type CelExpr } from './ast.js';
import { CheckError, checkExpression } from './checker.js';
import { ExpressionError, parseExpression, type ParsedExpression } from './parse.js';
import { ExpressionPositions } from './positions.js';
import { Program } from './program.js';
import { formatType, parameterCelType, type CelT } from './types.js';

/** A caveat ready to evaluate: compile once per schema, evaluate per relationship. */
export class CompiledCaveat {
  /** Declared parameters the expression reads (all of them, since unused parameters are rejected). */
  readonly referencedParameters: readonly string[];

  /** @internal */
  constructor(
    readonly name: string,
    readonly parameters: ReadonlyMap<string, CaveatParameterType>,
    readonly expression: string,
    /** @internal */
    readonly program: Program,
  ) {
    this.referencedParameters = program.referenced;
  }
}

/** Compiled caveats by definition object, so every caller shares one compilation per schema. */
const compiledByDefinition = new WeakMap<CaveatDefinition, CompiledCaveat>();

/**
 * Parses and type-checks a caveat; throws SchemaError (INVALID_ARGUMENT) with the schema position.
 * The same definition object compiles once (the result is cached).
 */
export function compileCaveat(def: CaveatDefinition): CompiledCaveat {
  let compiled = compiledByDefinition.get(def);
  if (!compiled) compiledByDefinition.set(def, (compiled = compile(def)));
  return compiled;
}

function compile(def: CaveatDefinition): CompiledCaveat {
  const text = def.expression;
  const start: SourcePosition = def.expressionPosition ?? { line: 1, column: 1 };
  const fail = (message: string, at: SourcePosition): never => {
    throw new SchemaError(`invalid expression for caveat \`${def.name}\`: ${message}`, at.line, at.column, def.name);
  };

  let parsed: ParsedExpression;
  try {
    parsed = parseExpression(text);
  } catch (e) {
    if (!(e instanceof ExpressionError)) throw e;
    const at = e.line === undefined ? start : new ExpressionPositions(text, undefined, start).atLineColumn(e.line, e.column!);
    return fail(e.message, at);
  }
  const positions = new ExpressionPositions(text, parsed.sourceInfo, start);

  const variables = new Map<string, CelT>();
  for (const [name, type] of def.parameters) variables.set(name, parameterCelType(type));
  let result: CelT;
  try {
    result = checkExpression(parsed.expr, variables);
  } catch (e) {
    if (!(e instanceof CheckError)) throw e;
    return fail(e.message, positions.of(parsed.expr, e.exprId));
  }
  if (result.k !== 'bool') {
    fail(`caveat expression must result in a boolean value: found \`${formatType(result, true)}\``, start);
  }

  const used = namesUsed(parsed.expr);
  for (const name of def.parameters.keys()) {
    if (!used.has(name)) {
      const at = def.parameterPositions?.get(name) ?? def.position ?? start;
      throw new SchemaError(`parameter \`${name}\` for caveat \`${def.name}\` is unused`, at.line, at.column, name);
    }
  }

  const program = new Program(parsed.expr, new Set(def.parameters.keys()), parsed.sourceInfo?.positions ?? {});
  return new CompiledCaveat(def.name, def.parameters, text, program);
}

/**
 * Identifier names anywhere in the tree, as SpiceDB counts parameter use: by name, whatever the
 * scope, and not in map literal keys (`{a: 1}` does not use a parameter `a`).
 */
function namesUsed(root: CelExpr): Set<string> {
  const names = new Set<string>();
  const stack = [root];
  while (stack.length > 0) {
    const e = stack.pop()!;
    const k = e.exprKind;
    if (k.case === 'identExpr') names.add(k.value.name);
    else if (k.case === 'structExpr') stack.push(...k.value.entries.map((en) => en.value!));
    else stack.push(...children(e));
  }
  return names;
}

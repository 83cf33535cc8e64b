/**
 * Evaluating a compiled caveat against a context. With every parameter the expression reads present,
 * one @bufbuild/cel plan runs (the hot path); otherwise partial evaluation decides whether the missing
 * parameters matter and, if they do, which ones to ask for.
 */
import { isCelError, type CelValue } from '@bufbuild/cel';
import { invalidArgument, resourceExhausted } from '../errors/index.js';
import { budgetExceeded, CostLimitExceeded, DEFAULT_COST_LIMIT, resetBudget } from './budget.js';
import type { CompiledCaveat } from './compile.js';
import { convertContext, type CaveatContext } from './context.js';
import { PartialEvaluator, Unknown, type PartialValue } from './partial.js';
import type { Activation } from './program.js';

export type CaveatResult =
  | { readonly kind: 'true' }
  | { readonly kind: 'false' }
  /**
   * The context lacks parameters the result depends on. `missing` names them as SpiceDB's
   * `partial_caveat_info.missing_required_context` does: one entry per place the expression reads a
   * missing parameter on the undecided path, in source order (so a name can repeat).
   */
  | { readonly kind: 'missing'; readonly missing: readonly string[] };

export interface EvaluateOptions {
  /** Cost budget in units of roughly 10 ns (default DEFAULT_COST_LIMIT). */
  costLimit?: number;
}

const TRUE: CaveatResult = Object.freeze({ kind: 'true' });
const FALSE: CaveatResult = Object.freeze({ kind: 'false' });

/**
 * Evaluates `compiled` with `context` (JSON values by parameter name; keys that are not parameters
 * are ignored). Throws INVALID_ARGUMENT for a context value of the wrong type or an evaluation error
 * (division by zero, missing map key, …), and RESOURCE_EXHAUSTED when the cost limit is reached.
 */
export function evaluateCaveat(
  compiled: CompiledCaveat,
  context: CaveatContext | undefined | null,
  options: EvaluateOptions = {},
): CaveatResult {
  const values = convertContext(compiled.name, compiled.parameters, context ?? {});
  let missing: Set<string> | undefined;
  for (const p of compiled.referencedParameters) if (!values.has(p)) (missing ??= new Set()).add(p);

  const limit = options.costLimit ?? DEFAULT_COST_LIMIT;
  resetBudget(limit);
  let result: PartialValue | undefined;
  try {
    if (missing) {
      result = new PartialEvaluator(compiled.program, values, missing).evaluate();
    } else {
      const activation: Activation = Object.create(null);
      for (const [name, v] of values) activation[name] = v;
      result = compiled.program.run(activation);
    }
  } catch (e) {
    if (!(e instanceof CostLimitExceeded)) throw e;
  }

  if (budgetExceeded() || result === undefined) {
    throw resourceExhausted(`evaluation error for caveat ${compiled.name}: cost limit of ${limit} exceeded`);
  }
  if (result === true) return TRUE;
  if (result === false) return FALSE;
  if (result instanceof Unknown) return { kind: 'missing', missing: result.names };
  throw invalidArgument(
    `evaluation error for caveat ${compiled.name}: ${isCelError(result) ? celGoMessage(result.message) : `expected a bool, got ${describe(result)}`}`,
  );
}

/** @bufbuild/cel's runtime error texts, reworded as cel-go (and so SpiceDB) words them. */
const MESSAGES: [RegExp, string][] = [
  [/^u?int divide by zero$/, 'division by zero'],
  [/^u?int modulus by zero$/, 'modulus by zero'],
  [/^int overflow\b.*/, 'integer overflow'],
  [/^uint overflow\b.*/, 'unsigned integer overflow'],
  [/^field not found: (.*)$/, 'no such key: $1'],
  [/^index (-?\d+) out of bounds.*/, 'index out of bounds: $1'],
  [/^found no matching overload for .*/, 'no such overload'],
  [/^timestamp out of range$/, 'timestamp overflow'],
  [/^Unable to convert string .* to bool$/, "type conversion error from 'string' to 'bool'"],
  [/^Failed to decode bytes as string.*/, 'invalid UTF-8 in bytes, cannot convert to string'],
];

function celGoMessage(message: string): string {
  for (const [pattern, replacement] of MESSAGES)
    if (pattern.test(message)) return message.replace(pattern, replacement);
  return message;
}

function describe(v: CelValue): string {
  return v === null ? 'null' : typeof v === 'object' ? 'a non-boolean value' : typeof v;
}

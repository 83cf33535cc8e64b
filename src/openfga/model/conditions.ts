/**
 * OpenFGA conditions → Pemba caveats. A condition's CEL expression is parsed and type-checked with
 * the machinery SpiceDB caveats use (src/caveats), with OpenFGA's rules and wording: the result must
 * be a bool, but unlike SpiceDB a parameter may go unused.
 */
import { compileCaveat } from '../../caveats/compile.js';
import { ExpressionError, parseExpression } from '../../caveats/parse.js';
import { ExpressionPositions } from '../../caveats/positions.js';
import { namesUsed, TypeCheckError, typeCheckExpression } from '../../caveats/type-check.js';
import { formatType, parameterCelType, type CelT } from '../../caveats/types.js';
import type { CaveatDefinition, CaveatParameterType } from '../../schema/ir.js';
import { OpenFgaError } from '../errors.js';
import type { Condition, ConditionParamTypeRef } from './types.js';

const SCALARS: Record<string, CaveatParameterType['kind']> = {
  TYPE_NAME_ANY: 'any',
  TYPE_NAME_BOOL: 'bool',
  TYPE_NAME_STRING: 'string',
  TYPE_NAME_INT: 'int',
  TYPE_NAME_UINT: 'uint',
  TYPE_NAME_DOUBLE: 'double',
  TYPE_NAME_DURATION: 'duration',
  TYPE_NAME_TIMESTAMP: 'timestamp',
  TYPE_NAME_IPADDRESS: 'ipaddress',
};

const GENERIC_NAMES: Record<string, string> = { TYPE_NAME_MAP: 'map', TYPE_NAME_LIST: 'list' };

const invalid = (message: string) => new OpenFgaError('invalid_authorization_model', message);

/** One parameter's type; throws a plain Error with OpenFGA's decode message. */
export function decodeParameterType(ref: ConditionParamTypeRef): CaveatParameterType {
  const scalar = SCALARS[ref?.type_name];
  if (scalar) return { kind: scalar } as CaveatParameterType;
  const generic = GENERIC_NAMES[ref?.type_name];
  if (!generic) throw new Error(`unknown condition parameter type \`${String(ref?.type_name)}\``);
  const generics = ref.generic_types ?? [];
  if (generics.length !== 1) {
    throw new Error(`type \`${generic}\` requires 1 generic types; found ${generics.length}`);
  }
  const inner = decodeParameterType(generics[0]);
  return generic === 'map' ? { kind: 'map', value: inner } : { kind: 'list', element: inner };
}

/** All declared parameters of a condition, typed (for checking a tuple's context against them). */
export function conditionParameters(condition: Condition): Map<string, CaveatParameterType> {
  const params = new Map<string, CaveatParameterType>();
  for (const [name, ref] of Object.entries(condition.parameters ?? {})) {
    try {
      params.set(name, decodeParameterType(ref));
    } catch (e) {
      throw invalid(`failed to decode parameter type for parameter '${name}': ${(e as Error).message}`);
    }
  }
  return params;
}

/**
 * Compiles one condition (stored under `key`) to a caveat definition, or throws OpenFgaError
 * `invalid_authorization_model`. The caveat declares only the parameters the expression reads:
 * OpenFGA accepts unused parameters, Pemba's caveat compiler (SpiceDB's rules) does not, and an
 * unread parameter cannot change a result.
 */
export function compileCondition(key: string, condition: Condition): CaveatDefinition {
  if (key !== condition.name) {
    throw invalid(`condition key '${key}' does not match condition name '${condition.name}'`);
  }
  const params = conditionParameters(condition);
  const text = condition.expression ?? '';
  const compileError = (message: string, line: number, column: number) =>
    invalid(
      `failed to compile expression on condition '${condition.name}': ERROR: ${condition.name}:${line}:${column}: ${message}`,
    );

  let parsed;
  try {
    parsed = parseExpression(text);
  } catch (e) {
    if (!(e instanceof ExpressionError)) throw e;
    throw compileError(e.message, e.line ?? 1, e.column ?? 1);
  }
  const variables = new Map<string, CelT>();
  for (const [name, type] of params) variables.set(name, parameterCelType(type));
  let result: CelT;
  try {
    result = typeCheckExpression(parsed.expr, variables);
  } catch (e) {
    if (!(e instanceof TypeCheckError)) throw e;
    const at = new ExpressionPositions(text, parsed.sourceInfo).of(parsed.expr, e.exprId);
    // cel-go counts columns from 0 in its issue text.
    throw compileError(e.message, at.line, at.column - 1);
  }
  if (result.k !== 'bool') {
    throw invalid(`expected a bool condition expression output, but got '${formatType(result)}'`);
  }

  const used = namesUsed(parsed.expr);
  const def: CaveatDefinition = {
    name: condition.name,
    parameters: new Map([...params].filter(([name]) => used.has(name))),
    expression: text.trim(),
    // OpenFGA evaluates a condition only once every parameter has a value.
    requireAllParameters: true,
  };
  try {
    // The engine compiles caveats with this same call (cached per definition): fail here, not there.
    compileCaveat(def);
  } catch (e) {
    throw invalid(`failed to compile expression on condition '${condition.name}': ${(e as Error).message}`);
  }
  return def;
}

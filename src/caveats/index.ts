/**
 * SpiceDB caveats: CEL conditions on relationships, compiled once per schema and evaluated per
 * relationship with the merged context.
 *
 *   const compiled = compileCaveat(schema.caveats.get('ip_allowed')!);   // SchemaError if invalid
 *   const ctx = mergeContext(relationship.caveatContext, request.context);
 *   evaluateCaveat(compiled, ctx);   // {kind:'true'} | {kind:'false'} | {kind:'missing', missing:['ip']}
 */
export { compileCaveat, CompiledCaveat } from './compile.js';
export { MAX_EXPRESSION_DEPTH, MAX_EXPRESSION_SIZE } from './parse.js';
export { evaluateCaveat } from './evaluate.js';
export type { CaveatResult, EvaluateOptions } from './evaluate.js';
export {
  convertContext,
  mergeContext,
  validateRelationshipContext,
  MAX_CONTEXT_WEIGHT,
  MAX_RELATIONSHIP_CONTEXT_BYTES,
  MAX_REQUEST_CONTEXT_BYTES,
} from './context.js';
export type { CaveatContext } from './context.js';
export { DEFAULT_COST_LIMIT, MAX_VALUE_SIZE } from './budget.js';

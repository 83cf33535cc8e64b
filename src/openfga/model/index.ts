/**
 * OpenFGA's authorization models on Pemba's engine: validation as OpenFGA's WriteAuthorizationModel
 * does it, compilation to the schema IR under a store's type prefix, and tuple ↔ relationship
 * conversion with OpenFGA's tuple validation.
 */
export { compileModel, type CompiledModel, type CompileOptions } from './compile.js';
export { compileCondition, conditionParameters, decodeParameterType } from './conditions.js';
export { validateModel, MAX_TYPES_PER_MODEL } from './validate.js';
export {
  checkTupleKey,
  isValidUser,
  parseObject,
  parseUser,
  relationOf,
  relationshipToTuple,
  tupleToRelationship,
  typeOf,
  unprefixed,
  userText,
  type CheckedTupleKey,
  type ParsedUser,
  type RelationInfo,
} from './tuples.js';
export type * from './types.js';

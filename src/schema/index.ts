/** SpiceDB's schema language: parse, compile and type-check, print, and validate relationships against it. */
export { compileSchema, compileAST, reachableSubjectTypes } from './compiler.js';
export { parseSchema } from './parser.js';
export { printSchema, printRewrite, printAllowedType, printCaveatType } from './printer.js';
export { validateRelationship } from './relationship-validation.js';
export type * from './ast.js';
export { schemaWarnings, warningsOf } from './warnings.js';
export type { SchemaWarning, SchemaWarningName } from './warnings.js';

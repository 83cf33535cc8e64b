export { PembaError, SchemaError, type ErrorCode, type ErrorReason } from './pemba-error.js';
export * from './catalogue.js';

/** SpiceDB validation files: parsing (with source lines) and running them against Pemba. */
export type * from './types.js';
export { parseValidationFile } from './parse.js';
export type { ParseOptions, ParseResult } from './parse.js';
export { loadValidationFile } from './load.js';
export { runValidationFile } from './run.js';
export type { RunOptions, RunResult } from './run.js';
export { parseAssertion } from './assertion.js';
export { parseExpectedSubject, formatExpectedSubject } from './expected-subject.js';
export { MembershipResolver, MembershipSet } from './membership.js';
export type { FoundSubject } from './membership.js';

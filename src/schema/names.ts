/** The names SpiceDB accepts for definitions, relations and subject relations, in schemas and relationships. */

// Patterns as SpiceDB prints them in errors; RegExp.source would escape the `/`.
export const DEFINITION_PATTERN = '^([a-z][a-z0-9_]{1,62}[a-z0-9]/)*[a-z][a-z0-9_]{1,62}[a-z0-9]$';
export const RELATION_PATTERN = '^[a-z][a-z0-9_]{1,62}[a-z0-9]$';
export const SUBJECT_RELATION_PATTERN = '^(\\.\\.\\.|[a-z][a-z0-9_]{1,62}[a-z0-9])$';
export const DEFINITION_NAME = new RegExp(DEFINITION_PATTERN);
export const RELATION_NAME = new RegExp(RELATION_PATTERN);
export const SUBJECT_RELATION_NAME = new RegExp(SUBJECT_RELATION_PATTERN);

/** A SpiceDB validation file (the input of `zed validate`), parsed, with every item's source line. */
import type { ObjectRef, Relationship, SubjectRef } from '../relationships/relationship.js';
import type { ObjectAndRelation } from '../relationships/relationship-string.js';
import type { ComposedSchema } from '../schema/compose.js';

/** A place in a file; line and column are 1-based. */
export interface SourceLocation {
  path: string;
  line: number;
  column: number;
}

/** Something wrong with the file, or an assertion or expectation that did not hold. */
export interface Problem extends SourceLocation {
  message: string;
}

export interface SchemaSource {
  text: string;
  /** Where schema-text position (line, column) is in the validation file or the schema file. */
  locate(line: number, column: number): SourceLocation;
  /**
   * A schema file that imports others (`use import`), composed with them: its merged syntax tree
   * is compiled in place of `text` (the root file's), and `locate` maps its positions to the files.
   */
  composed?: ComposedSchema;
}

export interface RelationshipEntry {
  text: string;
  relationship: Relationship;
  at: SourceLocation;
}

export type AssertionKind = 'assertTrue' | 'assertFalse' | 'assertCaveated';

export interface Assertion {
  kind: AssertionKind;
  text: string;
  resource: ObjectRef;
  permission: string;
  subject: SubjectRef;
  /** The ` with {…}` suffix. */
  context?: Record<string, unknown>;
  at: SourceLocation;
}

/** A subject in an expected-relations entry: `user:tom`, `group:eng#member`, `user:*`, `user:tom[...]`. */
export interface ExpectedSubjectRef extends SubjectRef {
  /** Written with `[...]`: the subject is only conditionally a member. */
  caveated: boolean;
}

/** One line of an expected-relations list: `[user:* - {user:a}] is <doc:1#viewer>/<doc:1#editor>`. */
export interface ExpectedSubject {
  text: string;
  subject: ExpectedSubjectRef;
  /** For a wildcard: the subjects it excludes. */
  excluded: ExpectedSubjectRef[];
  /** The object relations through which the subject is found; absent when `is …` was not written. */
  reasons?: ObjectAndRelation[];
  at: SourceLocation;
}

export interface ExpectedRelation {
  keyText: string;
  resource: ObjectAndRelation;
  subjects: ExpectedSubject[];
  at: SourceLocation;
}

export interface ValidationFile {
  path: string;
  schema?: SchemaSource;
  relationships: RelationshipEntry[];
  assertions: Assertion[];
  expectedRelations: ExpectedRelation[];
}

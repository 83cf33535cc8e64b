/**
 * The objects and subjects a validation file mentions, as SpiceDB's integration harness enumerates
 * them: every object in a resource or subject position of a relationship or assertion, and every
 * subject set (`group:eng#member`) written as a subject.
 */
import type { ObjectRef, SubjectRef } from '../../src/relationships/relationship.js';
import { ELLIPSIS } from '../../src/schema/ir.js';
import type { CompiledSchema } from '../../src/schema/ir.js';
import type { ValidationFile } from '../../src/validationfile/types.js';

export interface Universe {
  /** Objects that can be resources: every mentioned object whose type is defined. */
  resources: ObjectRef[];
  /** Concrete subjects (`user:tom`) and subject sets (`group:eng#member`), never wildcards. */
  subjects: SubjectRef[];
  /** The (type, relation) pairs of `subjects`: what LookupSubjects is asked for. */
  subjectKinds: Array<{ type: string; relation: string }>;
}

export const objectKey = (o: ObjectRef) => `${o.type}:${o.id}`;
export const subjectKey = (s: SubjectRef) => `${s.type}:${s.id}${s.relation === ELLIPSIS ? '' : `#${s.relation}`}`;

export function universeOf(file: ValidationFile, schema: CompiledSchema): Universe {
  const objects = new Map<string, ObjectRef>();
  const subjects = new Map<string, SubjectRef>();
  const addObject = (o: ObjectRef) => {
    if (o.id === '*' || !schema.definitions.has(o.type)) return;
    objects.set(objectKey(o), { type: o.type, id: o.id });
    subjects.set(subjectKey({ ...o, relation: ELLIPSIS }), { type: o.type, id: o.id, relation: ELLIPSIS });
  };
  const addSubject = (s: SubjectRef) => {
    addObject(s);
    if (s.id !== '*' && s.relation !== ELLIPSIS && schema.definitions.get(s.type)?.relations.has(s.relation)) {
      subjects.set(subjectKey(s), s);
    }
  };
  for (const { relationship } of file.relationships) {
    addObject(relationship.resource);
    addSubject(relationship.subject);
  }
  for (const a of file.assertions) {
    addObject(a.resource);
    addSubject(a.subject);
  }
  const sortBy =
    <T>(key: (t: T) => string) =>
    (a: T, b: T) =>
      key(a).localeCompare(key(b));
  const subjectList = [...subjects.values()].sort(sortBy(subjectKey));
  const kinds = new Map(subjectList.map((s) => [`${s.type}#${s.relation}`, { type: s.type, relation: s.relation }]));
  return {
    resources: [...objects.values()].sort(sortBy(objectKey)),
    subjects: subjectList,
    subjectKinds: [...kinds.values()],
  };
}

/** How a node evaluates a sub-problem another node sent it: at the revision it names, with that revision's schema. */
import type { Datastore, Revision, SnapshotReader } from '../datastore/datastore.js';
import type { Engine } from '../engine/engine.js';
import type {
  CheckSubproblem,
  SubjectsOutcome,
  SubjectsSubproblem,
  SubproblemOutcome,
} from '../engine/remote-dispatch.js';
import type { CompiledSchema } from '../schema/ir.js';

export interface SubproblemEvaluator {
  check(problem: CheckSubproblem, signal: AbortSignal): Promise<SubproblemOutcome>;
  subjects(problem: SubjectsSubproblem, signal: AbortSignal): Promise<SubjectsOutcome>;
}

/** Schemas kept by revision: a revision's schema never changes, and sub-problems come at a few revisions at a time. */
const SCHEMAS_KEPT = 64;

export function subproblemEvaluator(datastore: Datastore, engine: Engine): SubproblemEvaluator {
  const schemas = new Map<Revision, CompiledSchema>();
  const at = async ({
    revision,
    primary,
  }: CheckSubproblem | SubjectsSubproblem): Promise<[SnapshotReader, CompiledSchema]> => {
    // The caller's revision may be newer than this node's nested-group index: wait for it, as any read does.
    await engine.readyFor(revision);
    const snapshot = datastore.snapshot(revision, { primary });
    let schema = schemas.get(revision);
    if (!schema) {
      // None written yet reads as an empty schema (see Pemba.compile).
      schema = engine.compile((await snapshot.readSchema())?.text ?? '');
      if (schemas.size >= SCHEMAS_KEPT) schemas.delete(schemas.keys().next().value!);
      schemas.set(revision, schema);
    }
    return [snapshot, schema];
  };
  return {
    async check(problem, signal) {
      const [snapshot, schema] = await at(problem);
      return engine.checkSubproblem(snapshot, schema, problem, signal);
    },
    async subjects(problem, signal) {
      const [snapshot, schema] = await at(problem);
      return engine.subjectsSubproblem(snapshot, schema, problem, signal);
    },
  };
}

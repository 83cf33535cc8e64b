/** How a node evaluates a sub-problem another node sent it: at the revision it names, with that revision's schema. */
import type { Datastore, Revision } from '../datastore/datastore.js';
import type { Engine } from '../engine/engine.js';
import type { CheckSubproblem, SubproblemOutcome } from '../engine/remote-dispatch.js';
import { noSchema } from '../errors/index.js';
import type { CompiledSchema } from '../schema/ir.js';

/** Schemas kept by revision: a revision's schema never changes, and sub-problems come at a few revisions at a time. */
const SCHEMAS_KEPT = 64;

export function subproblemEvaluator(
  datastore: Datastore,
  engine: Engine,
): (problem: CheckSubproblem, signal: AbortSignal) => Promise<SubproblemOutcome> {
  const schemas = new Map<Revision, CompiledSchema>();
  return async (problem, signal) => {
    // The caller's revision may be newer than this node's nested-group index: wait for it, as any read does.
    await engine.readyFor(problem.revision);
    const snapshot = datastore.snapshot(problem.revision);
    let schema = schemas.get(problem.revision);
    if (!schema) {
      const text = (await snapshot.readSchema())?.text;
      if (text === undefined) throw noSchema();
      schema = engine.compile(text);
      if (schemas.size >= SCHEMAS_KEPT) schemas.delete(schemas.keys().next().value!);
      schemas.set(problem.revision, schema);
    }
    return engine.checkSubproblem(snapshot, schema, problem, signal);
  };
}

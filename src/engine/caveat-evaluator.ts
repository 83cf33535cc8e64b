/**
 * What one relationship grants by itself: full membership, or — when it carries a caveat — the
 * caveat's verdict under the relationship's stored context merged over the request's context.
 */
import { compileCaveat, evaluateCaveat, mergeContext, type CompiledCaveat } from '../caveats/index.js';
import { unknownCaveat } from '../errors/index.js';
import { PembaError } from '../errors/pemba-error.js';
import type { Relationship } from '../relationships/relationship.js';
import type { CompiledSchema } from '../schema/ir.js';
import type { Membership } from './membership.js';
import { conditional, MEMBER, NOT_MEMBER } from './membership.js';

export class CaveatEvaluator {
  constructor(
    private readonly schema: CompiledSchema,
    private readonly context: Record<string, unknown> = {},
    /**
     * Leave caveats unevaluated, as SpiceDB's dispatch does: a caveated relationship grants a
     * conditional membership carrying its caveat (traced checks, see check-trace.ts).
     */
    private readonly symbolic = false,
  ) {}

  of(rel: Relationship): Membership {
    if (!rel.caveat) return MEMBER;
    const def = this.schema.caveats.get(rel.caveat.name);
    if (!def) throw unknownCaveat(rel.caveat.name);
    // compileCaveat keeps one compiled program per definition.
    const compiled = compileCaveat(def);
    if (this.symbolic) return conditional([], { op: 'caveat', name: compiled.name, context: rel.caveat.context });
    const context = mergeContext(rel.caveat.context, this.context);
    // OpenFGA's conditions are evaluated only with every parameter given (see CaveatDefinition).
    if (def.requireAllParameters) {
      const missing = [...compiled.parameters.keys()].filter((p) => context[p] === undefined);
      if (missing.length > 0) return conditional(missing);
      try {
        return this.verdict(compiled, context);
      } catch (error) {
        // A value the condition cannot take fails this relationship only: like a missing parameter, it
        // leaves the membership undecided, which a union's other grant may still settle (OpenFGA's
        // evaluation errors lose to a sibling's `true`); undecided at the top, it is the caller's error.
        if (error instanceof PembaError && error.code === 'INVALID_ARGUMENT') {
          return conditional([error.metadata.parameter ?? compiled.name]);
        }
        throw error;
      }
    }
    return this.verdict(compiled, context);
  }

  private verdict(compiled: CompiledCaveat, context: Record<string, unknown>): Membership {
    const result = evaluateCaveat(compiled, context);
    if (result.kind === 'true') return MEMBER;
    if (result.kind === 'false') return NOT_MEMBER;
    return conditional(result.missing);
  }
}

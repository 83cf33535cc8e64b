/**
 * What one relationship grants by itself: full membership, or — when it carries a caveat — the
 * caveat's verdict under the relationship's stored context merged over the request's context.
 */
import { compileCaveat, evaluateCaveat, mergeContext, type CompiledCaveat } from '../caveats/index.js';
import { unknownCaveat } from '../errors/index.js';
import type { Relationship } from '../relationships/relationship.js';
import type { CompiledSchema } from '../schema/ir.js';
import type { Membership } from './membership.js';
import { conditional, MEMBER, NOT_MEMBER } from './membership.js';

const compiledBySchema = new WeakMap<CompiledSchema, Map<string, CompiledCaveat>>();

export class CaveatEvaluator {
  private readonly compiled: Map<string, CompiledCaveat>;

  constructor(
    private readonly schema: CompiledSchema,
    private readonly context: Record<string, unknown> = {},
  ) {
    let compiled = compiledBySchema.get(schema);
    if (!compiled) compiledBySchema.set(schema, (compiled = new Map()));
    this.compiled = compiled;
  }

  of(rel: Relationship): Membership {
    if (!rel.caveat) return MEMBER;
    const result = evaluateCaveat(this.caveat(rel.caveat.name), mergeContext(rel.caveat.context, this.context));
    if (result.kind === 'true') return MEMBER;
    if (result.kind === 'false') return NOT_MEMBER;
    return conditional(result.missing);
  }

  private caveat(name: string): CompiledCaveat {
    let c = this.compiled.get(name);
    if (!c) {
      const def = this.schema.caveats.get(name);
      if (!def) throw unknownCaveat(name);
      this.compiled.set(name, (c = compileCaveat(def)));
    }
    return c;
  }
}

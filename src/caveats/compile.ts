/**
 * Compiling a caveat, once per definition: its CEL expression parsed and type-checked (type-check.ts;
 * the schema compiler calls this to accept a caveat, so errors are SchemaErrors at their place in the
 * schema text), then planned for evaluation (program.ts). Later calls with the same definition
 * object, such as the engine's, get the same compilation.
 */
import type { CaveatDefinition, CaveatParameterType } from '../schema/ir.js';
import { Program } from './program.js';
import { typeCheckCaveat } from './type-check.js';

/** A caveat ready to evaluate: compile once per schema, evaluate per relationship. */
export class CompiledCaveat {
  /** Declared parameters the expression reads (all of them, since unused parameters are rejected). */
  readonly referencedParameters: readonly string[];

  /** @internal */
  constructor(
    readonly name: string,
    readonly parameters: ReadonlyMap<string, CaveatParameterType>,
    readonly expression: string,
    /** @internal */
    readonly program: Program,
  ) {
    this.referencedParameters = program.referenced;
  }
}

/** Compiled caveats by definition object, so every caller shares one compilation per schema. */
const compiledByDefinition = new WeakMap<CaveatDefinition, CompiledCaveat>();

/**
 * Parses, type-checks and plans a caveat; throws SchemaError (INVALID_ARGUMENT) with the schema
 * position. The same definition object compiles once (the result is cached).
 */
export function compileCaveat(def: CaveatDefinition): CompiledCaveat {
  let compiled = compiledByDefinition.get(def);
  if (!compiled) {
    const parsed = typeCheckCaveat(def);
    const program = new Program(parsed.expr, new Set(def.parameters.keys()), parsed.sourceInfo?.positions ?? {});
    compiledByDefinition.set(def, (compiled = new CompiledCaveat(def.name, def.parameters, def.expression, program)));
  }
  return compiled;
}

/**
 * Bounds on schema text, enforced while it is read so that hostile text is refused quickly with a
 * positioned SchemaError instead of exhausting the stack of a recursive pass (the parser, the
 * compiler, or the engine, which recurses over a permission's rewrite tree on every request).
 * Caveat expressions have their own limits (src/caveats/parse.ts).
 */

/** Largest schema text, in UTF-8 bytes: SpiceDB's WriteSchema limit (4 MiB). */
export const MAX_SCHEMA_BYTES = 4 * 1024 * 1024;

/**
 * How deep schema syntax may nest: the rewrite tree of a permission (`a - b - c` is three levels:
 * exclusion chains nest, while `a + b + c` is one flat union of two levels), its parentheses, and
 * generic caveat parameter types (`list<map<int>>` is three). Real schemas stay under ten; a
 * hundred keeps every recursive pass, the engine's included, far from the stack's limit.
 */
export const MAX_NESTING_DEPTH = 100;

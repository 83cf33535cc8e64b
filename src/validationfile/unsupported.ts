/**
 * Caveats and expiration are not implemented in the engine yet. A file that uses them must fail
 * loudly rather than pass with those parts ignored. Delete this module (and its one call in
 * run.ts) once the engine evaluates caveats and expiration.
 */
import type { Problem, SourceLocation, ValidationFile } from './types.js';

const CAVEATS = 'caveats are not supported yet';
const EXPIRATION = 'relationship expiration is not supported yet';

/** One problem per unsupported feature the file uses, at its first use. */
export function unsupportedFeatures(file: ValidationFile): Problem[] {
  const found = new Map<string, Problem>();
  const add = (at: SourceLocation, message: string) => {
    const feature = message.split(':')[0];
    if (!found.has(feature)) found.set(feature, { ...at, message });
  };
  if (file.schema) {
    const schema = file.schema;
    // Blank out comments, keeping line numbers.
    const lines = schema.text
      .replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' '))
      .replace(/\/\/.*$/gm, '')
      .split('\n');
    const lineWhere = (pattern: RegExp) => lines.findIndex((l) => pattern.test(l));
    const caveat = lineWhere(/^\s*caveat\s/);
    const withCaveat = lineWhere(/\bwith\s+(?!expiration\b)[a-z]/);
    const expiration = lineWhere(/^\s*use\s+expiration\b|\b(with|and)\s+expiration\b/);
    const first = [caveat, withCaveat].filter((i) => i >= 0).sort((a, b) => a - b)[0];
    if (first !== undefined) add(schema.locate(first + 1, 1), `${CAVEATS}: the schema defines or uses a caveat`);
    if (expiration >= 0) add(schema.locate(expiration + 1, 1), `${EXPIRATION}: the schema uses expiration`);
  }
  const caveated = file.relationships.find((r) => r.relationship.caveat);
  if (caveated) add(caveated.at, `${CAVEATS}: relationship \`${caveated.text}\` has a caveat`);
  const expiring = file.relationships.find((r) => r.relationship.expiresAt);
  if (expiring) add(expiring.at, `${EXPIRATION}: relationship \`${expiring.text}\` expires`);
  const conditional = file.assertions.find((a) => a.kind === 'assertCaveated' || a.context !== undefined);
  if (conditional) add(conditional.at, `${CAVEATS}: assertion \`${conditional.text}\` needs caveat evaluation`);
  const maybe = file.expectedRelations.flatMap((e) => e.subjects).find((s) => s.subject.caveated || s.excluded.some((x) => x.caveated));
  if (maybe) add(maybe.at, `${CAVEATS}: expected subject \`${maybe.text}\` is caveated`);
  return [...found.values()];
}

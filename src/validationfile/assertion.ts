/** One assertion string: `document:1#view@user:tom` with an optional ` with {"json": "context"}`. */
import { invalidArgument } from '../errors/index.js';
import { parseRelationship } from '../relationships/relationship-string.js';
import type { ObjectRef, SubjectRef } from '../relationships/relationship.js';

export interface ParsedAssertion {
  resource: ObjectRef;
  permission: string;
  subject: SubjectRef;
  context?: Record<string, unknown>;
}

const WITH = /\s+with\s+(?=\{)/;

export function parseAssertion(text: string): ParsedAssertion {
  const match = WITH.exec(text);
  const relationshipText = match ? text.slice(0, match.index) : text;
  const rel = parseRelationship(relationshipText);
  if (rel.caveat || rel.expiresAt) {
    throw invalidArgument(
      `assertion \`${text}\`: an assertion cannot carry a caveat or expiration; give context with \` with {…}\``,
    );
  }
  const result: ParsedAssertion = { resource: rel.resource, permission: rel.relation, subject: rel.subject };
  if (match) {
    const json = text.slice(match.index + match[0].length);
    let context: unknown;
    try {
      context = JSON.parse(json);
    } catch (error) {
      throw invalidArgument(
        `assertion \`${text}\`: the context after \`with\` is not valid JSON: ${(error as Error).message}`,
      );
    }
    if (typeof context !== 'object' || context === null || Array.isArray(context)) {
      throw invalidArgument(`assertion \`${text}\`: the context after \`with\` must be a JSON object`);
    }
    result.context = context as Record<string, unknown>;
  }
  return result;
}

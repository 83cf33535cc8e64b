/**
 * Runs a parsed validation file against a fresh in-memory Pemba: writes the schema and relationships,
 * checks every assertion and compares every expected relation with the fully expanded membership.
 */
import { PembaError, SchemaError } from '../errors/index.js';
import { Pemba } from '../pemba.js';
import { formatRelationship, formatSubject } from '../relationships/relationship-string.js';
import type { Permissionship } from '../requests/requests.js';
import type { SubjectRef } from '../relationships/relationship.js';
import { compileAST } from '../schema/compiler.js';
import { SchemaCompositionError, compileComposed } from '../schema/compose.js';
import { parseSchema } from '../schema/parser.js';
import { printSchema } from '../schema/printer.js';
import { warningsOf } from '../schema/warnings.js';
import { formatExpectedSubject } from './expected-subject.js';
import type { FoundSubject } from './membership.js';
import { MembershipResolver } from './membership.js';
import type {
  Assertion,
  ExpectedRelation,
  ExpectedSubjectRef,
  Problem,
  SourceLocation,
  ValidationFile,
} from './types.js';

export interface RunResult {
  problems: Problem[];
  /** SpiceDB's warnings about the schema (see schema/warnings.ts): reported, never a failure by themselves. */
  warnings: Problem[];
  /** What the schema defines, once it compiled. */
  schema?: { definitions: number; caveats: number };
  relationshipsLoaded: number;
  assertionsRun: number;
  expectedRelationsValidated: number;
}

const EXPECTED: Record<Assertion['kind'], Permissionship> = {
  assertTrue: 'HAS_PERMISSION',
  assertFalse: 'NO_PERMISSION',
  assertCaveated: 'CONDITIONAL_PERMISSION',
};

const WRITE_BATCH = 1000;

/** How a write of a relationship the schema does not allow fails (unknown type or relation, subject type not allowed…). */
const REFUSED: ReadonlySet<string> = new Set(['INVALID_ARGUMENT', 'FAILED_PRECONDITION']);

export interface RunOptions {
  /** Run against this (empty) instance and leave it open, e.g. to query it afterwards; default: a fresh in-memory one. */
  pemba?: Pemba;
}

export async function runValidationFile(file: ValidationFile, options: RunOptions = {}): Promise<RunResult> {
  const result: RunResult = {
    problems: [],
    warnings: [],
    relationshipsLoaded: 0,
    assertionsRun: 0,
    expectedRelationsValidated: 0,
  };
  const problem = (at: SourceLocation, message: string) => result.problems.push({ ...at, message });

  if (!file.schema) return result;

  const pemba = options.pemba ?? (await Pemba.open());
  try {
    try {
      const composed = file.schema.composed;
      if (composed) {
        // Imports are resolved here, not by WriteSchema (which refuses them): compile the merged
        // files, with positions in each file, and write the single schema they make.
        let compiled;
        try {
          compiled = compileComposed(composed);
        } catch (error) {
          if (!(error instanceof SchemaCompositionError)) throw error;
          problem(error.location, `schema error: ${error.detail}`);
          return result;
        }
        try {
          await pemba.writeSchema(printSchema(compiled));
        } catch (error) {
          // Not a place in any file (the schema is too large, say): reported at the root file.
          problem(file.schema.locate(1, 1), `schema error: ${(error as Error).message}`);
          return result;
        }
      } else {
        await pemba.writeSchema(file.schema.text);
      }
    } catch (error) {
      if (error instanceof SchemaError) {
        const message = error.message.replace(/ \(line \d+, column \d+\)$/, '');
        problem(file.schema.locate(error.line, error.column), `schema error: ${message}`);
      } else {
        problem(file.schema.locate(1, 1), `schema error: ${(error as Error).message}`);
      }
      return result;
    }
    const schema = file.schema;
    const ast = schema.composed?.ast ?? parseSchema(schema.text);
    const compiled = compileAST(ast);
    result.schema = { definitions: compiled.definitions.size, caveats: compiled.caveats.size };
    for (const w of warningsOf(ast, compiled))
      result.warnings.push({ ...schema.locate(w.line, w.column), message: w.message });

    if (!(await writeRelationships(pemba, file, problem))) return result;
    result.relationshipsLoaded = file.relationships.length;

    for (const assertion of file.assertions) {
      await runAssertion(pemba, assertion, problem);
      result.assertionsRun++;
    }

    const resolver = new MembershipResolver(
      async (resource, relation) =>
        (await pemba.expand({ resource, permission: relation, consistency: { mode: 'fully_consistent' } })).tree,
    );
    for (const expected of file.expectedRelations) {
      await compareExpected(resolver, expected, problem);
      result.expectedRelationsValidated++;
    }
  } finally {
    if (!options.pemba) await pemba.close();
  }
  return result;
}

/** Writes in batches; when a batch is rejected, writes its relationships one by one to name the culprits. */
async function writeRelationships(
  pemba: Pemba,
  file: ValidationFile,
  problem: (at: SourceLocation, m: string) => void,
): Promise<boolean> {
  const unique = new Map<string, ValidationFile['relationships'][number]>();
  for (const r of file.relationships) unique.set(formatRelationship(r.relationship), r);
  const entries = [...unique.values()];
  let ok = true;
  for (let i = 0; i < entries.length; i += WRITE_BATCH) {
    const batch = entries.slice(i, i + WRITE_BATCH);
    try {
      await pemba.writeRelationships({
        updates: batch.map((e) => ({ operation: 'TOUCH', relationship: e.relationship })),
      });
    } catch {
      for (const e of batch) {
        try {
          await pemba.writeRelationships({ updates: [{ operation: 'TOUCH', relationship: e.relationship }] });
        } catch (error) {
          ok = false;
          const refused = error instanceof PembaError && REFUSED.has(error.code);
          problem(
            e.at,
            `relationship \`${e.text}\`${refused ? ' does not fit the schema' : ''}: ${(error as Error).message}`,
          );
        }
      }
    }
  }
  return ok;
}

async function runAssertion(
  pemba: Pemba,
  a: Assertion,
  problem: (at: SourceLocation, m: string) => void,
): Promise<void> {
  const expected = EXPECTED[a.kind];
  try {
    const { permissionship, missingContext } = await pemba.check({
      resource: a.resource,
      permission: a.permission,
      subject: a.subject,
      context: a.context,
      consistency: { mode: 'fully_consistent' },
    });
    if (permissionship !== expected) {
      const missing = missingContext?.length ? ` (missing context: ${missingContext.join(', ')})` : '';
      problem(a.at, `${a.kind} failed: \`${a.text}\`: expected ${expected}, got ${permissionship}${missing}`);
    }
  } catch (error) {
    const detail = error instanceof PembaError ? `${error.code}: ${error.message}` : (error as Error).message;
    problem(a.at, `${a.kind} \`${a.text}\`: check failed with ${detail}`);
  }
}

function sameSubject(expected: ExpectedSubjectRef | SubjectRef, found: SubjectRef): boolean {
  return expected.type === found.type && expected.id === found.id && expected.relation === found.relation;
}

function foundAsExpected(f: FoundSubject): string {
  return formatExpectedSubject({
    subject: { ...f.subject, caveated: false },
    excluded: [...f.excluded].sort().map((id) => ({ ...f.subject, id, caveated: false })),
    reasons: [...f.reasons].sort().map((r) => {
      const [object, relation] = r.split('#');
      const colon = object.indexOf(':');
      return { type: object.slice(0, colon), id: object.slice(colon + 1), relation };
    }),
  });
}

async function compareExpected(
  resolver: MembershipResolver,
  expected: ExpectedRelation,
  problem: (at: SourceLocation, m: string) => void,
): Promise<void> {
  let found: FoundSubject[];
  try {
    found = [...(await resolver.membership(expected.resource, expected.resource.relation)).subjects.values()];
  } catch (error) {
    problem(expected.at, `expected relations of \`${expected.keyText}\`: expand failed: ${(error as Error).message}`);
    return;
  }
  const matched = new Set<FoundSubject>();
  for (const e of expected.subjects) {
    const f = found.find((x) => sameSubject(e.subject, x.subject));
    if (!f) {
      problem(e.at, `\`${expected.keyText}\`: expected subject \`${formatSubject(e.subject)}\` is not found`);
      continue;
    }
    matched.add(f);
    const computed = foundAsExpected(f);
    const wanted = [...(e.reasons ?? [])].map((r) => `${r.type}:${r.id}#${r.relation}`).sort();
    const got = [...f.reasons].sort();
    const excludedWanted = e.excluded.map(formatSubject).sort();
    const excludedGot = [...f.excluded].map((id) => formatSubject({ ...f.subject, id })).sort();
    if (
      JSON.stringify(wanted) !== JSON.stringify(got) ||
      JSON.stringify(excludedWanted) !== JSON.stringify(excludedGot)
    ) {
      problem(
        e.at,
        `\`${expected.keyText}\`: subject \`${formatSubject(e.subject)}\` differs: expected \`${e.text}\`, computed \`${computed}\``,
      );
    }
  }
  for (const f of found) {
    if (matched.has(f)) continue;
    problem(
      expected.at,
      `\`${expected.keyText}\`: subject \`${formatSubject(f.subject)}\` is found but not listed: \`${foundAsExpected(f)}\``,
    );
  }
}

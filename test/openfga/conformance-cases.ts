/**
 * Where OpenFGA's own test cases are read from: PEMBA_OPENFGA_CONFORMANCE_DIR when set (a folder of
 * case files, e.g. OpenFGA's complete assets/tests), otherwise test/fixtures/openfga-conformance (the
 * cases of ../shared/conformance/openfga, copied into the repository so that a clean clone has them),
 * and their layout, which both harnesses (conformance.test.ts over HTTP, service-conformance.test.ts
 * in process) read.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const CONFORMANCE_DIR =
  process.env.PEMBA_OPENFGA_CONFORMANCE_DIR ??
  fileURLToPath(new URL('../fixtures/openfga-conformance/', import.meta.url));

/** The case files' layout (OpenFGA's harness's YAML; see NOTICE.md beside them). */
export interface Tuple {
  user: string;
  relation: string;
  object: string;
  condition?: { name: string; context?: Record<string, unknown> };
}

export interface CheckAssertion {
  tuple: { user: string; relation: string; object: string };
  context?: Record<string, unknown>;
  contextualTuples?: Tuple[];
  expectation?: boolean;
  errorCode?: number;
}

export interface ListObjectsAssertion {
  request: { user: string; type: string; relation: string };
  context?: Record<string, unknown>;
  contextualTuples?: Tuple[];
  expectation?: string[] | null;
  errorCode?: number;
}

export interface ListUsersAssertion {
  request: { object: string; relation: string; filters: string[] };
  context?: Record<string, unknown>;
  contextualTuples?: Tuple[];
  expectation?: string[] | null;
  errorCode?: number;
}

export interface Stage {
  model: string;
  tuples?: Tuple[] | null;
  checkAssertions?: CheckAssertion[] | null;
  listObjectsAssertions?: ListObjectsAssertion[] | null;
  listUsersAssertions?: ListUsersAssertion[] | null;
}

export interface Case {
  name: string;
  file: string;
  stages: Stage[];
}

/** Every case of every file, names made unique (a file may repeat one). */
export function loadCases(): Case[] {
  const cases: Case[] = [];
  const seen = new Map<string, number>();
  for (const file of readdirSync(CONFORMANCE_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    const doc = parse(readFileSync(join(CONFORMANCE_DIR, file), 'utf8')) as {
      tests: { name: string; stages: Stage[] }[];
    };
    for (const t of doc.tests) {
      const n = (seen.get(t.name) ?? 0) + 1;
      seen.set(t.name, n);
      cases.push({ name: n === 1 ? t.name : `${t.name} (${n})`, file, stages: t.stages });
    }
  }
  return cases;
}

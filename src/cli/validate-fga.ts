/**
 * `pemba validate` on OpenFGA store test files (`.fga.yaml`, the format of `fga model test`): the
 * model (`model` DSL inline, or `model_file`: `.fga` DSL or `.json`), tuples for every test
 * (`tuples`, `tuple_file`, `tuple_files`: YAML, JSON or CSV), and `tests`, each with its own tuples and
 * `check`, `list_objects` and `list_users` assertions. Each test runs in a fresh store of an in-memory
 * datastore, through OpenFgaService in process; every assertion that does not hold is a Problem at
 * its line, naming the test and the assertion.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { transformer } from '@openfga/syntax-transformer';
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import type { Document } from 'yaml';
import type { Datastore } from '../datastore/datastore.js';
import { openMemoryDatastore } from '../datastore/memory/datastore.js';
import { Engine } from '../engine/engine.js';
import { openCatalog } from '../openfga/catalog/index.js';
import { OpenFgaError } from '../openfga/errors.js';
import { OpenFgaService } from '../openfga/service.js';
import type { Problem } from '../validationfile/types.js';

/** Largest number of tuples one write carries (OpenFGA's limit). */
const WRITE_CHUNK = 100;

export interface FgaTuple {
  user: string;
  relation: string;
  object: string;
  condition?: { name: string; context?: Record<string, unknown> };
}

export interface FgaRunResult {
  problems: Problem[];
  tests: number;
  assertions: number;
  tuples: number;
}

/**
 * Whether `path` is an OpenFGA store file: named `*.fga.yaml` / `*.fga.yml`, or YAML holding a
 * `tests` list or an OpenFGA model (`model` DSL, `model_file`) and no SpiceDB `schema`.
 */
export function isFgaStoreFile(path: string, text?: string): boolean {
  if (/\.fga\.ya?ml$/i.test(path)) return true;
  if (!/\.ya?ml$/i.test(path) && text === undefined) return false;
  let content: unknown;
  try {
    content = parseDocument(text ?? readFileSync(path, 'utf8')).toJS();
  } catch {
    return false;
  }
  if (content === null || typeof content !== 'object' || Array.isArray(content)) return false;
  const doc = content as Record<string, unknown>;
  if ('schema' in doc || 'schemaFile' in doc) return false;
  if (Array.isArray(doc.tests)) return true;
  if (typeof doc.model === 'string' && /^\s*model\b/m.test(doc.model)) return true;
  return typeof doc.model_file === 'string';
}

/** Runs an OpenFGA store test file. */
export async function runFgaStoreFile(path: string): Promise<FgaRunResult> {
  const result: FgaRunResult = { problems: [], tests: 0, assertions: 0, tuples: 0 };
  const lineCounter = new LineCounter();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    result.problems.push({ path, line: 1, column: 1, message: `cannot read: ${(error as Error).message}` });
    return result;
  }
  const doc = parseDocument(text, { lineCounter });
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const pos = e.linePos?.[0];
      result.problems.push({ path, line: pos?.line ?? 1, column: pos?.col ?? 1, message: e.message });
    }
    return result;
  }
  /** The line and column of the node at `keys` (the closest ancestor that exists). */
  const at = (keys: (string | number)[]) => locate(doc, lineCounter, keys);
  const problem = (keys: (string | number)[], message: string) => result.problems.push({ path, ...at(keys), message });

  const file = doc.toJS() as Record<string, unknown> | null;
  if (file === null || typeof file !== 'object' || Array.isArray(file)) {
    problem([], 'an OpenFGA store file is a YAML map (model, tuples, tests)');
    return result;
  }
  const base = dirname(path);

  let model: unknown;
  try {
    model = loadModel(file, base);
  } catch (error) {
    problem(['model_file' in file ? 'model_file' : 'model'], `invalid model: ${(error as Error).message}`);
    return result;
  }

  let globalTuples: FgaTuple[];
  try {
    globalTuples = loadTuples(file, base);
  } catch (error) {
    problem([tupleKeyOf(file)], (error as Error).message);
    return result;
  }

  const tests = Array.isArray(file.tests) ? (file.tests as Record<string, unknown>[]) : [];
  if (!Array.isArray(file.tests)) problem([], 'no `tests` list: nothing to run');

  const datastore: Datastore = openMemoryDatastore();
  const engine = await Engine.open(datastore);
  try {
    const catalog = await openCatalog(datastore);
    const service = new OpenFgaService({
      datastore,
      engine,
      catalog,
      limits: { listObjectsMaxResults: 0, listObjectsDeadlineMs: 0, listUsersMaxResults: 0, listUsersDeadlineMs: 0 },
    });
    for (const [i, test] of tests.entries()) {
      if (test === null || typeof test !== 'object') {
        problem(['tests', i], 'a test is a map (name, tuples, check, list_objects, list_users)');
        continue;
      }
      result.tests++;
      const name = typeof test.name === 'string' && test.name ? test.name : `tests[${i}]`;
      const fail = (keys: (string | number)[], message: string) =>
        problem(['tests', i, ...keys], `${name}: ${message}`);
      let tuples: FgaTuple[];
      try {
        tuples = [...globalTuples, ...loadTuples(test, base)];
      } catch (error) {
        fail([tupleKeyOf(test)], (error as Error).message);
        continue;
      }
      const store = (await service.createStore({ name: storeName(name) })) as { id: string };
      let modelId: string;
      try {
        modelId = ((await service.writeAuthorizationModel(store.id, model)) as { authorization_model_id: string })
          .authorization_model_id;
      } catch (error) {
        problem(['model_file' in file ? 'model_file' : 'model'], `invalid model: ${messageOf(error)}`);
        return result;
      }
      let written = true;
      for (let k = 0; k < tuples.length; k += WRITE_CHUNK) {
        try {
          await service.write(store.id, {
            authorization_model_id: modelId,
            writes: { tuple_keys: tuples.slice(k, k + WRITE_CHUNK) },
          });
        } catch (error) {
          fail([tupleKeyOf(test)], `cannot write the tuples: ${messageOf(error)}`);
          written = false;
          break;
        }
      }
      if (!written) continue;
      result.tuples += tuples.length;
      const runner = new TestRunner(service, store.id, modelId, fail);
      result.assertions += await runner.run(test);
      await service.deleteStore(store.id).catch(() => undefined);
    }
  } finally {
    await engine.close();
    await datastore.close();
  }
  return result;
}

/** Runs one test's assertions; returns how many ran. */
class TestRunner {
  constructor(
    private readonly service: OpenFgaService,
    private readonly storeId: string,
    private readonly modelId: string,
    private readonly fail: (keys: (string | number)[], message: string) => void,
  ) {}

  async run(test: Record<string, unknown>): Promise<number> {
    let count = 0;
    for (const [j, c] of list(test.check).entries()) count += await this.check(c, j);
    for (const [j, c] of list(test.list_objects).entries()) count += await this.listObjects(c, j);
    for (const [j, c] of list(test.list_users).entries()) count += await this.listUsers(c, j);
    return count;
  }

  private async check(c: Record<string, unknown>, j: number): Promise<number> {
    const users = strings(c.users ?? c.user);
    const objects = strings(c.objects ?? c.object);
    const assertions = record(c.assertions);
    if (users.length === 0 || objects.length === 0 || !assertions) {
      this.fail(['check', j], 'a check needs `user` (or `users`), `object` (or `objects`) and `assertions`');
      return 0;
    }
    let count = 0;
    for (const user of users) {
      for (const object of objects) {
        for (const [relation, expected] of Object.entries(assertions)) {
          count++;
          const what = `check ${object}#${relation}@${user}${contextText(c.context)}`;
          try {
            const answer = (await this.service.check(this.storeId, {
              authorization_model_id: this.modelId,
              tuple_key: { user, relation, object },
              ...(c.context !== undefined ? { context: c.context } : {}),
            })) as { allowed?: boolean };
            const allowed = answer.allowed === true;
            if (allowed !== expected)
              this.fail(['check', j, 'assertions', relation], `${what}: expected ${String(expected)}, got ${allowed}`);
          } catch (error) {
            this.fail(['check', j, 'assertions', relation], `${what}: failed: ${messageOf(error)}`);
          }
        }
      }
    }
    return count;
  }

  private async listObjects(c: Record<string, unknown>, j: number): Promise<number> {
    const users = strings(c.users ?? c.user);
    const assertions = record(c.assertions);
    if (users.length === 0 || typeof c.type !== 'string' || !assertions) {
      this.fail(['list_objects', j], 'a list_objects needs `user`, `type` and `assertions`');
      return 0;
    }
    let count = 0;
    for (const user of users) {
      for (const [relation, expected] of Object.entries(assertions)) {
        count++;
        const what = `list_objects ${c.type}#${relation}@${user}${contextText(c.context)}`;
        try {
          const answer = (await this.service.listObjects(this.storeId, {
            authorization_model_id: this.modelId,
            user,
            relation,
            type: c.type,
            ...(c.context !== undefined ? { context: c.context } : {}),
          })) as { objects?: string[] };
          const got = answer.objects ?? [];
          const want = strings(expected);
          if (!sameSet(got, want))
            this.fail(['list_objects', j, 'assertions', relation], `${what}: expected ${show(want)}, got ${show(got)}`);
        } catch (error) {
          this.fail(['list_objects', j, 'assertions', relation], `${what}: failed: ${messageOf(error)}`);
        }
      }
    }
    return count;
  }

  private async listUsers(c: Record<string, unknown>, j: number): Promise<number> {
    const objects = strings(c.objects ?? c.object);
    const assertions = record(c.assertions);
    const filters = list(c.user_filter);
    if (objects.length === 0 || filters.length === 0 || !assertions) {
      this.fail(['list_users', j], 'a list_users needs `object`, `user_filter` and `assertions`');
      return 0;
    }
    let count = 0;
    for (const object of objects) {
      const colon = object.indexOf(':');
      for (const [relation, expected] of Object.entries(assertions)) {
        count++;
        const filterText = filters
          .map((f) => `${String(f.type)}${f.relation ? `#${String(f.relation)}` : ''}`)
          .join(',');
        const what = `list_users ${object}#${relation} (user_filter ${filterText})${contextText(c.context)}`;
        try {
          const answer = (await this.service.listUsers(this.storeId, {
            authorization_model_id: this.modelId,
            object: { type: object.slice(0, colon < 0 ? 0 : colon), id: colon < 0 ? object : object.slice(colon + 1) },
            relation,
            user_filters: filters,
            ...(c.context !== undefined ? { context: c.context } : {}),
          })) as { users?: unknown[] };
          const got = (answer.users ?? []).map(userText);
          const want = strings(record(expected)?.users);
          if (!sameSet(got, want))
            this.fail(['list_users', j, 'assertions', relation], `${what}: expected ${show(want)}, got ${show(got)}`);
        } catch (error) {
          this.fail(['list_users', j, 'assertions', relation], `${what}: failed: ${messageOf(error)}`);
        }
      }
    }
    return count;
  }
}

/** The model as the API takes it: `model` (DSL) or `model_file` (.fga DSL, .json). */
function loadModel(file: Record<string, unknown>, base: string): unknown {
  if (typeof file.model === 'string') return transformer.transformDSLToJSONObject(file.model);
  if (typeof file.model_file === 'string') {
    const path = resolve(base, file.model_file);
    const text = readFileSync(path, 'utf8');
    if (/\.json$/i.test(path)) return JSON.parse(text) as unknown;
    if (/\.mod$/i.test(path)) throw new Error('modular models (fga.mod) are not supported: use a .fga or .json model');
    return transformer.transformDSLToJSONObject(text);
  }
  throw new Error('no `model` or `model_file`');
}

/** The tuples of a file or a test: `tuples` inline, `tuple_file`, `tuple_files` (YAML, JSON or CSV). */
export function loadTuples(from: Record<string, unknown>, base: string): FgaTuple[] {
  const tuples: FgaTuple[] = [];
  if (from.tuples !== undefined && from.tuples !== null) tuples.push(...checkTuples(from.tuples, '`tuples`'));
  const files = [...(typeof from.tuple_file === 'string' ? [from.tuple_file] : []), ...strings(from.tuple_files)];
  for (const f of files) {
    const path = resolve(base, f);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new Error(`cannot read tuple file ${f}: ${(error as Error).message}`);
    }
    if (/\.csv$/i.test(path)) tuples.push(...parseCsvTuples(text, f));
    else if (/\.json$/i.test(path)) tuples.push(...checkTuples(parseJson(text, f), f));
    else tuples.push(...checkTuples(parseDocument(text).toJS(), f));
  }
  return tuples;
}

function parseJson(text: string, name: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new Error(`tuple file ${name} is not valid JSON: ${(error as Error).message}`);
  }
}

function checkTuples(value: unknown, where: string): FgaTuple[] {
  if (!Array.isArray(value)) throw new Error(`${where} must be a list of tuples (user, relation, object)`);
  return value.map((t: unknown, i) => {
    const r = record(t);
    if (!r || typeof r.user !== 'string' || typeof r.relation !== 'string' || typeof r.object !== 'string')
      throw new Error(`${where}: tuple ${i + 1} needs string user, relation and object`);
    const condition = record(r.condition);
    return {
      user: r.user,
      relation: r.relation,
      object: r.object,
      ...(condition && typeof condition.name === 'string'
        ? {
            condition: {
              name: condition.name,
              ...(record(condition.context) ? { context: record(condition.context)! } : {}),
            },
          }
        : {}),
    };
  });
}

/**
 * `fga tuple write`'s CSV: a header naming the columns user_type, user_id, user_relation (optional),
 * relation, object_type, object_id, condition_name and condition_context (optional, JSON).
 */
export function parseCsvTuples(text: string, name: string): FgaTuple[] {
  const rows = parseCsv(text).filter((r) => r.some((cell) => cell.trim() !== ''));
  if (rows.length === 0) return [];
  const header = rows[0].map((h) => h.trim());
  const col = (n: string) => header.indexOf(n);
  for (const required of ['user_type', 'user_id', 'relation', 'object_type', 'object_id'])
    if (col(required) < 0) throw new Error(`tuple file ${name}: the CSV header has no ${required} column`);
  return rows.slice(1).map((row, i) => {
    const cell = (n: string) => (col(n) >= 0 ? (row[col(n)] ?? '').trim() : '');
    const userRelation = cell('user_relation');
    const conditionName = cell('condition_name');
    const contextText = cell('condition_context');
    let context: Record<string, unknown> | undefined;
    if (contextText) {
      try {
        context = record(JSON.parse(contextText));
      } catch {
        throw new Error(`tuple file ${name}: row ${i + 2}: condition_context is not valid JSON`);
      }
    }
    return {
      user: `${cell('user_type')}:${cell('user_id')}${userRelation ? `#${userRelation}` : ''}`,
      relation: cell('relation'),
      object: `${cell('object_type')}:${cell('object_id')}`,
      ...(conditionName ? { condition: { name: conditionName, ...(context ? { context } : {}) } } : {}),
    };
  });
}

/** RFC 4180 CSV: quoted fields may hold commas, newlines and doubled quotes. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

function locate(doc: Document, lineCounter: LineCounter, keys: (string | number)[]): { line: number; column: number } {
  const nodeAt = (n: number): unknown => (n === 0 ? doc.contents : doc.getIn(keys.slice(0, n), true));
  for (let n = keys.length; n >= 0; n--) {
    const node = nodeAt(n);
    if (!node || typeof node !== 'object') continue;
    // A map entry: point at its key, the line that names it (`viewer: true`, `model: |`).
    const parent = n > 0 ? nodeAt(n - 1) : undefined;
    if (isMap(parent)) {
      const pair = parent.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(keys[n - 1]));
      const keyRange = isScalar(pair?.key) ? pair.key.range : undefined;
      if (keyRange) return position(lineCounter, keyRange[0]);
    }
    const range = (node as { range?: [number, number, number] | null }).range;
    if (range) return position(lineCounter, range[0]);
  }
  return { line: 1, column: 1 };
}

function position(lineCounter: LineCounter, offset: number): { line: number; column: number } {
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

const tupleKeyOf = (r: Record<string, unknown>) =>
  'tuple_file' in r ? 'tuple_file' : 'tuple_files' in r ? 'tuple_files' : 'tuples';

function list(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter((v): v is Record<string, unknown> => record(v) !== undefined) : [];
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function userText(u: unknown): string {
  const user = record(u) ?? {};
  const object = record(user.object);
  if (object) return `${String(object.type)}:${String(object.id)}`;
  const userset = record(user.userset);
  if (userset) return `${String(userset.type)}:${String(userset.id)}#${String(userset.relation)}`;
  const wildcard = record(user.wildcard);
  if (wildcard) return `${String(wildcard.type)}:*`;
  return JSON.stringify(u);
}

const sameSet = (a: string[], b: string[]) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());
const show = (xs: string[]) => `[${[...xs].sort().join(', ')}]`;
const contextText = (context: unknown) => (context === undefined ? '' : ` with context ${JSON.stringify(context)}`);

function messageOf(error: unknown): string {
  if (error instanceof OpenFgaError) return `${error.toJSON().code}: ${error.message}`;
  return (error as Error)?.message ?? String(error);
}

/** A store name OpenFGA accepts (3 to 64 of `\w \s . / _ -`). */
function storeName(name: string): string {
  const clean = name.replace(/[^\w\s./-]/g, '_');
  return clean.length > 64 ? clean.slice(0, 64) : clean.padEnd(3, '_');
}

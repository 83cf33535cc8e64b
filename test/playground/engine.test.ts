/**
 * The playground's engine glue in Node: its four texts run as one validation file judged exactly as
 * `pemba validate` judges it, problems mapped back to the text they are about; YAML in and out; the
 * URL state; the schema graph; and the route that serves the built page.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest, createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateCommand } from '../../src/cli/validate.js';
import { compileSchema } from '../../src/schema/index.js';
import {
  check,
  evaluate,
  fromValidationYaml,
  lintSchema,
  lookupResources,
  lookupSubjects,
  toValidationYaml,
  type PlaygroundState,
} from '../../src/playground/engine.js';
import { EXAMPLES } from '../../src/playground/examples.js';
import { schemaGraphSvg } from '../../src/playground/graph.js';
import { decodeShared, decodeState, encodeState } from '../../src/playground/share.js';
import { withPlayground } from '../../src/server/playground-route.js';

const dir = mkdtempSync(join(tmpdir(), 'pemba-playground-engine-'));

/** What `pemba validate` prints for the state, as a file. */
async function validateOutput(state: PlaygroundState, name: string): Promise<string[]> {
  const path = join(dir, name);
  writeFileSync(path, toValidationYaml(state));
  const lines: string[] = [];
  await validateCommand([path], { out: (l) => lines.push(l), err: (l) => lines.push(l) });
  return lines.map((l) => l.replace(`${path}:`, 'FILE:').replace(path, 'FILE'));
}

describe('the playground engine', () => {
  it.each(EXAMPLES.map((e) => [e.id, e] as const))(
    'example %s passes everything, as `pemba validate` says',
    async (id, example) => {
      const evaluation = await evaluate(example.state);
      try {
        expect(evaluation.marks.filter((m) => m.severity !== 'pass')).toEqual([]);
        expect(evaluation.assertions.passed).toBe(evaluation.assertions.run);
        expect(evaluation.assertions.run).toBeGreaterThan(2);
        expect(evaluation.expected.passed).toBe(evaluation.expected.run);
        expect(await validateOutput(example.state, `${id}.yaml`)).toEqual([`FILE: ${evaluation.summary}`]);
        const outcome = await check(evaluation.pemba!, example.check);
        expect(outcome.trace?.check.resourceIds).toEqual([example.check.resource.split(':')[1]]);
      } finally {
        await evaluation.pemba?.close();
      }
    },
  );

  it('judges failures as `pemba validate` does, each at its line in its own text', async () => {
    const state: PlaygroundState = {
      schema: 'definition user {}\n\ndefinition doc {\n  relation reader: user\n  permission view = reader\n}',
      relationships: 'doc:1#reader@user:ann\n// a comment\ndoc:1#reader@user:bob',
      assertions:
        'assertTrue:\n  - doc:1#view@user:ann\n  - doc:1#view@user:carol\nassertFalse:\n  - doc:1#view@user:bob',
      validation: 'doc:1#view:\n  - "[user:ann] is <doc:1#reader>"\n  - "[user:zed] is <doc:1#reader>"',
    };
    const evaluation = await evaluate(state);
    await evaluation.pemba?.close();
    const failures = evaluation.marks.filter((m) => m.severity === 'error');
    expect(failures.map(({ section, line, column }) => ({ section, line, column }))).toEqual([
      { section: 'assertions', line: 3, column: 5 },
      { section: 'assertions', line: 5, column: 5 },
      { section: 'validation', line: 3, column: 5 },
      { section: 'validation', line: 1, column: 1 },
    ]);
    const passes = evaluation.marks.filter((m) => m.severity === 'pass');
    expect(passes.map(({ section, line }) => `${section}:${line}`)).toEqual(['assertions:2', 'validation:2']);
    // `pemba validate` reports the same problems (at the file's lines), and the same summary.
    const printed = await validateOutput(state, 'failing.yaml');
    expect(printed).toHaveLength(failures.length + 1);
    expect(printed.slice(0, -1).map((l) => l.replace(/^FILE:\d+:\d+: /, ''))).toEqual(failures.map((m) => m.message));
    expect(printed.at(-1)).toBe(`FILE: ${evaluation.summary}`);
  });

  it('stops at parse problems, as `pemba validate` does, and maps relationship errors to their line', async () => {
    const state: PlaygroundState = {
      schema: 'definition user {}\ndefinition doc {\n  relation reader: user\n}',
      relationships: 'doc:1#reader@user:ann\ndoc:1#reader@@user:bob',
      assertions: 'assertTrue:\n  - doc:1#reader@user:ann',
      validation: '',
    };
    const evaluation = await evaluate(state);
    expect(evaluation.pemba).toBeUndefined();
    expect(evaluation.marks).toHaveLength(1);
    expect(evaluation.marks[0]).toMatchObject({ section: 'relationships', line: 2, severity: 'error' });
    expect(evaluation.rows.map((r) => [r.line, r.error === undefined])).toEqual([
      [1, true],
      [2, false],
    ]);
  });

  it('lints the schema at the compiler’s line and column', () => {
    const [unknown] = lintSchema('definition user {}\ndefinition doc {\n  relation reader: usr\n}');
    expect(unknown).toMatchObject({ section: 'schema', line: 3, column: 20, severity: 'error' });
    expect(unknown.message).toBe(
      'could not lookup definition `usr` for relation `reader`: object definition `usr` not found',
    );
    expect(
      lintSchema('definition user {}\ndefinition doc {\n  relation r: user\n  permission p = r +\n}'),
    ).toMatchObject([{ line: 5, severity: 'error' }]);
    expect(lintSchema('definition user {}')).toEqual([]);
  });

  it('reads and writes validation YAML', async () => {
    for (const e of EXAMPLES)
      expect(fromValidationYaml(toValidationYaml(e.state))).toEqual({ state: e.state, problems: [] });
    const text = `schema: |
  definition user {}
  definition doc {
    relation reader: user
  }
relationships: |
  doc:1#reader@user:ann
assertions:
  assertTrue:
    # ann reads
    - doc:1#reader@user:ann
validation: null
`;
    const { state, problems } = fromValidationYaml(text);
    expect(problems).toEqual([]);
    expect(state).toEqual({
      schema: 'definition user {}\ndefinition doc {\n  relation reader: user\n}\n',
      relationships: 'doc:1#reader@user:ann\n',
      assertions: 'assertTrue:\n  # ann reads\n  - doc:1#reader@user:ann',
      validation: '',
    });
    const evaluation = await evaluate(state);
    await evaluation.pemba?.close();
    expect(evaluation.summary).toBe('ok (1 relationship loaded, 1 assertion run, 0 expected relations validated)');
    expect(fromValidationYaml('schemaFile: x.zed\n').problems).toEqual([
      '`schemaFile` cannot be read in the browser: paste the schema into the file as `schema`',
    ]);
  });

  it('keeps a schema whose first line is indented', () => {
    const state = {
      schema: '  definition user {}\ndefinition doc {}',
      relationships: '',
      assertions: '',
      validation: '',
    };
    expect(fromValidationYaml(toValidationYaml(state)).state).toEqual(state);
  });

  it('looks up resources and subjects', async () => {
    const example = EXAMPLES.find((e) => e.id === 'caveats')!;
    const evaluation = await evaluate(example.state);
    try {
      const input = { resource: 'server:db1', permission: 'ssh', subject: 'user:ann' };
      expect(await lookupResources(evaluation.pemba!, input)).toEqual([
        { id: 'db1', permissionship: 'CONDITIONAL_PERMISSION', missingContext: ['user_ip'] },
      ]);
      expect((await lookupSubjects(evaluation.pemba!, input)).map((f) => [f.id, f.permissionship])).toEqual([
        ['ann', 'CONDITIONAL_PERMISSION'],
        ['bob', 'CONDITIONAL_PERMISSION'],
        ['root', 'HAS_PERMISSION'],
      ]);
      await expect(check(evaluation.pemba!, { ...input, context: '[1]' })).rejects.toThrow('JSON object');
    } finally {
      await evaluation.pemba?.close();
    }
  });

  it('puts the state in a URL fragment and reads it back', async () => {
    for (const e of EXAMPLES) {
      const hash = await encodeState(e.state);
      expect(hash).toMatch(/^s=[A-Za-z0-9_-]+$/);
      expect(await decodeState(`#${hash}`)).toEqual(e.state);
    }
    const check = { resource: 'doc:1', permission: 'view', subject: 'user:ann', context: '{"a": 1}' };
    expect(await decodeShared(await encodeState(EXAMPLES[0].state, check))).toEqual({
      state: EXAMPLES[0].state,
      check,
    });
    expect(await decodeShared(await encodeState(EXAMPLES[0].state))).toEqual({ state: EXAMPLES[0].state });
    expect(await decodeState('#s=garbage')).toBeUndefined();
    expect(await decodeState('')).toBeUndefined();
  });

  it('draws the schema as a graph', () => {
    const svg = schemaGraphSvg(compileSchema(EXAMPLES[0].state.schema), new Map([['document#view', true]]));
    expect(svg).toContain('data-definition="folder"');
    expect(svg).toContain('data-definition="document"');
    expect(svg).toMatch(/class="row permission visited granted" data-relation="document#view"/);
    expect(svg).toContain('<title>document#view: parent-&gt;view</title>');
    expect(svg).toContain('<title>document#viewer → user:*</title>');
    expect(svg).toContain('<title>document#view uses edit</title>');
  });
});

describe('the /playground route', () => {
  let base: string;
  const site = join(dir, 'site');
  mkdirSync(site, { recursive: true });
  writeFileSync(join(site, 'index.html'), '<!doctype html><title>p</title>');
  writeFileSync(join(site, 'app.js'), 'console.log(1)'.repeat(100));
  writeFileSync(join(site, 'app.css'), 'body{}');
  const server = createServer(
    withPlayground(
      (_req, res) => {
        res.writeHead(404);
        res.end('gateway');
      },
      { dir: site },
    ),
  );
  const get = (path: string, headers: Record<string, string> = {}) =>
    new Promise<{ res: IncomingMessage; body: Buffer }>((resolve, reject) => {
      const req = httpRequest(`${base}${path}`, { headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ res, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end();
    });

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('serves the page and its files, gzipped when asked, and passes every other path on', async () => {
    const moved = await get('/playground');
    expect(moved.res.statusCode).toBe(301);
    expect(moved.res.headers.location).toBe('/playground/');
    const page = await get('/playground/');
    expect(page.res.statusCode).toBe(200);
    expect(page.res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.res.headers['content-security-policy']).toContain("default-src 'self'");
    expect(page.body.toString()).toContain('<title>p</title>');
    const app = await get('/playground/app.js?v=1', { 'Accept-Encoding': 'gzip, br' });
    expect(app.res.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(app.body).toString()).toBe('console.log(1)'.repeat(100));
    const again = await get('/playground/app.js', { 'If-None-Match': app.res.headers.etag! });
    expect(again.res.statusCode).toBe(304);
    expect(again.body.length).toBe(0);
    for (const other of ['/playground/../package.json', '/playground/engine.js', '/v1/permissions/check', '/'])
      expect((await get(other)).body.toString()).toBe('gateway');
  });
});

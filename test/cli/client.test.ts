/**
 * The client commands against a real server (in-process): `pemba schema read|write`,
 * `relationship create|touch|delete|read|watch`, `permission check|expand|lookup-resources|
 * lookup-subjects`, their flags, outputs (text and --json) and effects, and their errors.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { v1 } from '@authzed/authzed-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consistencyFrom, parseSubjectArg } from '../../src/cli/client/common.js';
import { parseSubjectFilter, parseWatchFilter } from '../../src/cli/client/relationship.js';
import { renderTree } from '../../src/cli/client/permission.js';
import { startTestServer } from '../server/harness.js';
import type { TestServer } from '../server/harness.js';
import { capture, connection, run, SCHEMA, until } from './client-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'pemba-client-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('client commands against a server', () => {
  let t: TestServer;
  let conn: string[];
  const pemba = (args: string[], stdin = '') => run([...args, ...conn], capture(stdin));
  const full = ['--consistency-full'];

  beforeAll(async () => {
    t = await startTestServer();
    conn = connection(t.endpoint);
  });
  afterAll(() => t.close());

  describe('schema', () => {
    it('read before any schema: NOT_FOUND, exit 1', async () => {
      const r = await pemba(['schema', 'read']);
      expect(r.code).toBe(1);
      expect(r.err).toEqual(['error: NOT_FOUND: no schema has been defined; please call WriteSchema to start']);
      expect(r.out).toEqual([]);
    });

    it('write from a file (silent), from stdin, and read it back as text and JSON', async () => {
      const file = join(dir, 'schema.zed');
      writeFileSync(file, SCHEMA);
      const written = await pemba(['schema', 'write', file]);
      expect(written).toMatchObject({ code: 0, out: [], err: [] });

      const read = await pemba(['schema', 'read']);
      expect(read.code).toBe(0);
      expect(read.out).toHaveLength(1);
      expect(read.out[0]).toContain('permission view = (viewer + edit) - banned');
      expect(read.out[0]).toContain('caveat on_level(level int, required int)');

      const json = await pemba(['schema', 'read', '--json']);
      const parsed = JSON.parse(json.out[0]);
      expect(parsed.schemaText).toBe(read.out[0]);
      expect(parsed.readAt.token).toEqual(expect.any(String));

      // From stdin, with --json: the WriteSchemaResponse.
      const viaStdin = await pemba(['schema', 'write', '--json'], SCHEMA);
      expect(viaStdin.code).toBe(0);
      expect(JSON.parse(viaStdin.out.join('\n')).writtenAt.token).toEqual(expect.any(String));
      const dash = await pemba(['schema', 'write', '-'], SCHEMA);
      expect(dash.code).toBe(0);
    });

    it('refuses an empty schema, a missing file and a terminal for stdin, before sending anything', async () => {
      const empty = await pemba(['schema', 'write'], '  \n');
      expect(empty).toMatchObject({ code: 2, err: ['error: attempted to write an empty schema'] });
      const missing = await pemba(['schema', 'write', join(dir, 'nope.zed')]);
      expect(missing.code).toBe(2);
      expect(missing.err[0]).toMatch(/^error: cannot read .*nope\.zed: ENOENT/);
      const tty = await run(['schema', 'write', ...conn], capture('', { tty: true }));
      expect(tty).toMatchObject({ code: 2, err: ['error: give a schema file, or pipe the schema to stdin'] });
      const invalid = await pemba(['schema', 'write'], 'definition user {\n  relation owner: nope\n}');
      expect(invalid.code).toBe(1);
      expect(invalid.err[0]).toMatch(/^error: INVALID_ARGUMENT: .*`nope`/);
    });
  });

  describe('relationship create / touch / delete', () => {
    it('create prints the written-at token; creating it again fails with ALREADY_EXISTS', async () => {
      const r = await pemba(['relationship', 'create', 'document:1', 'viewer', 'user:alice']);
      expect(r.code).toBe(0);
      expect(r.out).toHaveLength(1);
      expect(r.out[0]).toMatch(/^[\w-]+$/);
      // The token is a consistency token: a check at least as fresh sees the write.
      const check = await pemba([
        'permission',
        'check',
        'document:1',
        'view',
        'user:alice',
        '--consistency-at-least',
        r.out[0],
      ]);
      expect(check.out).toEqual(['true']);

      const again = await pemba(['relationship', 'create', 'document:1', 'viewer', 'user:alice']);
      expect(again.code).toBe(1);
      expect(again.err[0]).toMatch(
        /^error: ALREADY_EXISTS: could not CREATE relationship `document:1#viewer@user:alice`, as it already existed/,
      );
    });

    it('touch sets a caveat (--caveat) and an expiration (--expiration-time), and overwrites them', async () => {
      const caveated = await pemba([
        'relationship',
        'touch',
        'document:2',
        'viewer',
        'user:bob',
        '--caveat',
        'on_level:{"required":3}',
      ]);
      expect(caveated.code).toBe(0);
      const expiring = await pemba([
        'relationship',
        'touch',
        'document:2',
        'viewer',
        'user:erin',
        '--expiration-time',
        '2040-01-02T03:04:05Z',
      ]);
      expect(expiring.code).toBe(0);
      let read = await pemba(['relationship', 'read', 'document:2', ...full]);
      expect(read.out).toEqual([
        'document:2 viewer user:bob[on_level:{"required":3}]',
        'document:2 viewer user:erin[expiration:2040-01-02T03:04:05Z]',
      ]);
      // Touch again with another context: replaced. The caveat may also be written inline.
      expect(
        (await pemba(['relationship', 'touch', 'document:2', 'viewer', 'user:bob[on_level:{"required":1}]'])).code,
      ).toBe(0);
      read = await pemba(['relationship', 'read', 'document:2', 'viewer', 'user:bob', ...full]);
      expect(read.out).toEqual(['document:2 viewer user:bob[on_level:{"required":1}]']);
    });

    it('reads relationships from stdin (both line forms), -b per call, one token per call', async () => {
      const stdin = [
        '// a comment, then a blank line',
        '',
        'document:3 viewer group:eng#member',
        'group:eng#member@user:carol',
        'document:3 viewer user:*',
        'document:3   banned   user:dave',
        'document:3 viewer user:frank[on_level:{"required": 2}]',
      ].join('\n');
      const r = await pemba(['relationship', 'create', '-b', '2'], stdin);
      expect(r.code).toBe(0);
      expect(r.out).toHaveLength(3); // 5 relationships, 2 per call
      const read = await pemba(['relationship', 'read', 'document:3', ...full]);
      expect(read.out).toEqual([
        'document:3 banned user:dave',
        'document:3 viewer group:eng#member',
        'document:3 viewer user:*',
        'document:3 viewer user:frank[on_level:{"required":2}]',
      ]);
    });

    it('a bad stdin line stops the command before anything is written (exit 2, with its line)', async () => {
      const r = await pemba(['relationship', 'create'], 'document:4 viewer user:x\ndocument:4 viewer\n');
      expect(r.code).toBe(2);
      expect(r.err).toEqual(['error: stdin:2: expected 3 arguments (resource:id relation subject:id), got 2']);
      expect((await pemba(['relationship', 'read', 'document:4', ...full])).out).toEqual([]);
      const bad = await pemba(['relationship', 'create'], 'document:4 viewer user:a b c\n');
      expect(bad.code).toBe(2);
      expect(bad.err[0]).toMatch(/^error: stdin:1: invalid relationship string/);
    });

    it('argument and flag errors exit 2 before connecting', async () => {
      const cases: Array<[string[], RegExp]> = [
        [
          ['relationship', 'create', 'document:1', 'viewer'],
          /expected 3 arguments \(resource:id relation subject:id\), got 2/,
        ],
        [
          ['relationship', 'create', 'document', 'viewer', 'user:a'],
          /invalid relationship string `document#viewer@user:a`: resource `document#viewer` needs the form type:id/,
        ],
        [
          ['relationship', 'create', 'document:1', 'viewer', 'user:a', '--caveat', 'Bad Name'],
          /--caveat must be caveat_name or caveat_name:\{"some":"context"\}/,
        ],
        [
          ['relationship', 'create', 'document:1', 'viewer', 'user:a', '--caveat', 'on_level:{nope'],
          /--caveat context is not valid JSON/,
        ],
        [
          ['relationship', 'create', 'document:1', 'viewer', 'user:a[on_level]', '--caveat', 'on_level'],
          /cannot give a caveat both in the relationship and with --caveat/,
        ],
        [
          ['relationship', 'touch', 'document:1', 'viewer', 'user:a', '--expiration-time', 'tomorrow'],
          /--expiration-time must be an RFC 3339 timestamp/,
        ],
        [
          ['relationship', 'create', 'document:1', 'viewer', 'user:a', '-b', '0'],
          /--batch-size must be a positive integer, not "0"/,
        ],
      ];
      for (const [args, message] of cases) {
        const r = await run(args, capture()); // no connection flags: nothing is sent
        expect(r.code, args.join(' ')).toBe(2);
        expect(r.err[0], args.join(' ')).toMatch(message);
      }
      const tty = await run(['relationship', 'create', ...conn], capture('', { tty: true }));
      expect(tty.err).toEqual([
        'error: give a relationship as arguments (resource:id relation subject:id) or on stdin',
      ]);
      const noToken = await run([
        'relationship',
        'create',
        'document:1',
        'viewer',
        'user:a',
        '--endpoint',
        t.endpoint,
        '--insecure',
      ]);
      expect(noToken.code).toBe(2);
      expect(noToken.err[0]).toMatch(/a token is required: pass --token or set PEMBA_TOKEN/);
    });

    it('takes one relationship string too; a wrong token is UNAUTHENTICATED (exit 1)', async () => {
      const r = await pemba(['relationship', 'create', 'document:7#viewer@user:one']);
      expect(r.code).toBe(0);
      expect((await pemba(['relationship', 'read', 'document:7', ...full])).out).toEqual([
        'document:7 viewer user:one',
      ]);
      const wrong = await run([
        'relationship',
        'read',
        'document',
        '--endpoint',
        t.endpoint,
        '--token',
        'wrong',
        '--insecure',
      ]);
      expect(wrong.code).toBe(1);
      expect(wrong.err[0]).toMatch(/^error: UNAUTHENTICATED: /);
    });

    it('the server refusing a relationship the schema does not allow: exit 1 with its message', async () => {
      const r = await pemba(['relationship', 'create', 'document:5', 'owner', 'group:eng#member']);
      expect(r.code).toBe(1);
      expect(r.err[0]).toMatch(
        /^error: INVALID_ARGUMENT: subjects of type `group#member` are not allowed on relation `document#owner`/,
      );
    });

    it('delete removes a relationship (and deleting a missing one is no error), with --json', async () => {
      await pemba(['relationship', 'create', 'document:6', 'viewer', 'user:gone']);
      const r = await pemba(['relationship', 'delete', 'document:6', 'viewer', 'user:gone', '--json']);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out.join('\n')).writtenAt.token).toEqual(expect.any(String));
      expect((await pemba(['relationship', 'read', 'document:6', ...full])).out).toEqual([]);
      expect((await pemba(['relationship', 'delete', 'document:6', 'viewer', 'user:gone'])).code).toBe(0);
      const flags = await run([
        'relationship',
        'delete',
        'document:6',
        'viewer',
        'user:gone',
        '--caveat',
        'x',
        ...conn,
      ]);
      expect(flags.code).toBe(1); // commander: unknown option
      expect(flags.err[0]).toMatch(/unknown option '--caveat'/);
    });
  });

  describe('relationship read', () => {
    beforeAll(async () => {
      const lines = [
        'document:proj-a owner user:olga',
        'document:proj-b viewer user:olga',
        'document:proj-b viewer group:eng#member',
        'document:other viewer user:olga',
        'group:eng member group:ops#member',
      ];
      const r = await pemba(['relationship', 'touch'], lines.join('\n'));
      expect(r.code).toBe(0);
    });

    it('filters by type, id, id prefix (%), relation and subject (argument or --subject-filter)', async () => {
      const read = async (...args: string[]) => (await pemba(['relationship', 'read', ...args, ...full])).out;
      expect(await read('document:proj-%')).toEqual([
        'document:proj-a owner user:olga',
        'document:proj-b viewer group:eng#member',
        'document:proj-b viewer user:olga',
      ]);
      expect(await read('document:proj-b', 'viewer')).toEqual([
        'document:proj-b viewer group:eng#member',
        'document:proj-b viewer user:olga',
      ]);
      expect(await read('document', 'viewer', 'user:olga')).toEqual([
        'document:other viewer user:olga',
        'document:proj-b viewer user:olga',
      ]);
      expect(await read('document', '', '--subject-filter', 'group')).toEqual([
        'document:3 viewer group:eng#member',
        'document:proj-b viewer group:eng#member',
      ]);
      // #relation narrows the subject relation; #... is the subject itself.
      expect(await read('group', 'member', 'group#member')).toEqual(['group:eng member group:ops#member']);
      expect(await read('group', 'member', 'group:ops#...')).toEqual([]);
    });

    it('pages through everything with --page-limit, at one revision, and prints JSON lines with --json', async () => {
      const all = (await pemba(['relationship', 'read', 'document', ...full])).out;
      expect(all.length).toBeGreaterThan(8);
      const paged = await pemba(['relationship', 'read', 'document', '--page-limit', '2', ...full]);
      expect(paged.out).toEqual(all);
      const unpaged = await pemba(['relationship', 'read', 'document', '--page-limit', '0', ...full]);
      expect(unpaged.out).toEqual(all);
      const json = await pemba(['relationship', 'read', 'document:proj-a', '--json', ...full]);
      expect(json.out).toHaveLength(1);
      const parsed = JSON.parse(json.out[0]);
      expect(parsed.relationship).toEqual({
        resource: { objectType: 'document', objectId: 'proj-a' },
        relation: 'owner',
        subject: { object: { objectType: 'user', objectId: 'olga' } },
      });
      expect(parsed.readAt.token).toEqual(expect.any(String));
    });

    it('consistency flags: at-least and at-exactly tokens, and only one of them', async () => {
      const written = await pemba(['relationship', 'create', 'document:fresh', 'viewer', 'user:new']);
      const token = written.out[0];
      const atLeast = await pemba(['relationship', 'read', 'document:fresh', '--consistency-at-least', token]);
      expect(atLeast.out).toEqual(['document:fresh viewer user:new']);
      const exactly = await pemba(['relationship', 'read', 'document:fresh', '--consistency-at-exactly', token]);
      expect(exactly.out).toEqual(['document:fresh viewer user:new']);
      const minLatency = await pemba(['relationship', 'read', 'document:fresh', '--consistency-min-latency']);
      expect(minLatency.code).toBe(0);
      const two = await pemba([
        'relationship',
        'read',
        'document',
        '--consistency-full',
        '--consistency-at-least',
        token,
      ]);
      expect(two.code).toBe(2);
      expect(two.err[0]).toMatch(/^error: provided multiple consistency flags/);
      const bogus = await pemba(['relationship', 'read', 'document', '--consistency-at-exactly', 'not-a-token']);
      expect(bogus.code).toBe(1);
      expect(bogus.err[0]).toMatch(/^error: INVALID_ARGUMENT: /);
    });

    it('argument errors', async () => {
      const badType = await pemba(['relationship', 'read', 'Document']);
      expect(badType).toMatchObject({
        code: 2,
        err: ['error: `Document` must have the form type, type:id or type:id_prefix%'],
      });
      const both = await pemba(['relationship', 'read', 'document', 'viewer', 'user', '--subject-filter', 'user']);
      expect(both.err).toEqual([
        'error: give the subject filter either as the third argument or with --subject-filter',
      ]);
      const filter = await pemba(['relationship', 'read', 'document', 'viewer', 'user:']);
      expect(filter.err).toEqual(['error: subject filter `user:` must have the form type[:id][#relation]']);
      const missing = await pemba(['relationship', 'read']);
      expect(missing.code).toBe(1);
      expect(missing.err[0]).toMatch(/missing required argument 'resource'/);
    });
  });

  describe('permission', () => {
    it('check: true, false, caveated (missing context on stderr), and with --caveat-context', async () => {
      const check = (...args: string[]) => pemba(['permission', 'check', ...args, ...full]);
      expect((await check('document:3', 'view', 'user:carol')).out).toEqual(['true']); // via group:eng#member
      expect((await check('document:3', 'view', 'user:dave')).out).toEqual(['false']); // banned
      // document:2 viewer user:bob[on_level:{"required":1}]
      const caveated = await check('document:2', 'view', 'user:bob');
      expect(caveated).toMatchObject({ code: 0, out: ['caveated'] });
      expect(caveated.err).toEqual(['missing caveat context: level (give it with --caveat-context)']);
      expect((await check('document:2', 'view', 'user:bob', '--caveat-context', '{"level":2}')).out).toEqual(['true']);
      expect((await check('document:2', 'view', 'user:bob', '--caveat-context', '{"level":0}')).out).toEqual(['false']);
      // user:* makes anyone a viewer of document:3, whatever frank's own caveat says.
      expect((await check('document:3', 'view', 'user:frank')).out).toEqual(['true']);
      expect((await check('group:eng', 'member', 'group:ops#member')).out).toEqual(['true']);
    });

    it('check --json, --error-on-no-permission, --explain', async () => {
      const json = await pemba(['permission', 'check', 'document:1', 'view', 'user:alice', '--json', ...full]);
      const parsed = JSON.parse(json.out.join('\n'));
      expect(parsed.permissionship).toBe('PERMISSIONSHIP_HAS_PERMISSION');
      expect(parsed.checkedAt.token).toEqual(expect.any(String));
      const denied = await pemba([
        'permission',
        'check',
        'document:1',
        'view',
        'user:zed',
        '--error-on-no-permission',
        ...full,
      ]);
      expect(denied).toMatchObject({ code: 1, out: ['false'] });
      const allowed = await pemba([
        'permission',
        'check',
        'document:1',
        'view',
        'user:alice',
        '--error-on-no-permission',
        ...full,
      ]);
      expect(allowed).toMatchObject({ code: 0, out: ['true'] });
      const explain = await pemba(['permission', 'check', 'document:1', 'view', 'user:alice', '--explain', ...full]);
      expect(explain.out[0]).toBe('true');
      // The trace tree follows: the checked permission first, on document:1.
      expect(explain.out.length).toBeGreaterThan(1);
      expect(explain.out[1]).toMatch(/document:1.*view/);
      expect(explain.err).toEqual([]);
    });

    it('check errors: bad arguments exit 2, an unknown permission exits 1 with the server message', async () => {
      const noColon = await pemba(['permission', 'check', 'document', 'view', 'user:alice']);
      expect(noColon).toMatchObject({
        code: 2,
        err: ['error: resource `document` must have the form type:id (e.g. document:readme)'],
      });
      const badContext = await pemba([
        'permission',
        'check',
        'document:1',
        'view',
        'user:a',
        '--caveat-context',
        '[1]',
      ]);
      expect(badContext.err).toEqual([`error: --caveat-context must be a JSON object, e.g. '{"ip":"10.0.0.1"}'`]);
      const unknown = await pemba(['permission', 'check', 'document:1', 'share', 'user:alice', ...full]);
      expect(unknown.code).toBe(1);
      expect(unknown.err[0]).toMatch(
        /^error: FAILED_PRECONDITION: relation\/permission `share` not found under definition `document`/,
      );
      const down = await run(['permission', 'check', 'document:1', 'view', 'user:a', ...connection('127.0.0.1:1')]);
      expect(down.code).toBe(1);
      expect(down.err[0]).toMatch(/^error: UNAVAILABLE: .*is a server listening on 127\.0\.0\.1:1\?/);
    });

    it('expand prints the tree, as zed does (and --json the response)', async () => {
      const r = await pemba(['permission', 'expand', 'view', 'document:3', ...full]);
      expect(r.code).toBe(0);
      expect(r.out).toEqual([
        'document:3->view',
        '└── exclusion',
        '    ├── document:3->view',
        '    │   └── union',
        '    │       ├── document:3->viewer',
        '    │       │   ├── group:eng->member',
        '    │       │   ├── user:*',
        '    │       │   └── user:frank',
        '    │       └── document:3->edit',
        '    │           └── union',
        '    │               └── document:3->owner',
        '    └── document:3->banned',
        '        └── user:dave',
      ]);
      const json = await pemba(['permission', 'expand', 'viewer', 'document:1', '--json', ...full]);
      const tree = JSON.parse(json.out.join('\n')).treeRoot;
      expect(tree.expandedObject).toEqual({ objectType: 'document', objectId: '1' });
      expect(tree.leaf.subjects).toEqual([{ object: { objectType: 'user', objectId: 'alice' } }]);
      const wrongOrder = await pemba(['permission', 'expand', 'document:3', 'view']);
      expect(wrongOrder.err).toEqual(['error: resource `view` must have the form type:id (e.g. document:readme)']);
    });

    it('lookup-resources: ids, caveated ones with their missing context, paging, --json', async () => {
      const r = await pemba(['permission', 'lookup-resources', 'document', 'view', 'user:olga', ...full]);
      expect(r.out.sort()).toEqual(['3', 'other', 'proj-a', 'proj-b']);
      const caveated = await pemba(['permission', 'lookup-resources', 'document', 'view', 'user:bob', ...full]);
      expect(caveated.out.sort()).toEqual(['2 (caveated, missing context: level)', '3']);
      const withContext = await pemba([
        'permission',
        'lookup-resources',
        'document',
        'view',
        'user:bob',
        '--caveat-context',
        '{"level":5}',
        ...full,
      ]);
      expect(withContext.out.sort()).toEqual(['2', '3']);
      const paged = await pemba([
        'permission',
        'lookup-resources',
        'document',
        'view',
        'user:olga',
        '--page-limit',
        '1',
        ...full,
      ]);
      expect(paged.out.sort()).toEqual(['3', 'other', 'proj-a', 'proj-b']);
      // --cursor resumes after a result (from --json's afterResultCursor).
      const first = await pemba([
        'permission',
        'lookup-resources',
        'document',
        'view',
        'user:olga',
        '--page-limit',
        '1',
        '--json',
        ...full,
      ]);
      const cursor = JSON.parse(first.out[0]).afterResultCursor.token;
      const rest = await pemba([
        'permission',
        'lookup-resources',
        'document',
        'view',
        'user:olga',
        '--cursor',
        cursor,
        ...full,
      ]);
      expect([JSON.parse(first.out[0]).resourceObjectId, ...rest.out].sort()).toEqual([
        '3',
        'other',
        'proj-a',
        'proj-b',
      ]);
      const json = await pemba(['permission', 'lookup-resources', 'document', 'edit', 'user:olga', '--json', ...full]);
      expect(json.out).toHaveLength(1);
      expect(JSON.parse(json.out[0])).toMatchObject({
        resourceObjectId: 'proj-a',
        permissionship: 'LOOKUP_PERMISSIONSHIP_HAS_PERMISSION',
      });
    });

    it('lookup-subjects: subjects, a wildcard with its exclusions, subject relations, --json', async () => {
      const r = await pemba(['permission', 'lookup-subjects', 'document:3', 'view', 'user', ...full]);
      expect(r.out.sort()).toEqual(['user:* - {\n\tdave\n}', 'user:carol', 'user:frank']);
      const caveated = await pemba(['permission', 'lookup-subjects', 'document:2', 'view', 'user', ...full]);
      expect(caveated.out.sort()).toEqual(['user:bob (caveated, missing context: level)', 'user:erin']);
      const groups = await pemba([
        'permission',
        'lookup-subjects',
        'document:proj-b',
        'viewer',
        'group#member',
        ...full,
      ]);
      expect(groups.out.sort()).toEqual(['group:eng', 'group:ops']); // group:eng#member includes group:ops#member
      const json = await pemba(['permission', 'lookup-subjects', 'document:1', 'view', 'user', '--json', ...full]);
      expect(json.out).toHaveLength(1);
      expect(JSON.parse(json.out[0]).subject).toMatchObject({ subjectObjectId: 'alice' });
      const badType = await pemba(['permission', 'lookup-subjects', 'document:1', 'view', 'user:alice']);
      expect(badType.err).toEqual([
        'error: subject type `user:alice` must have the form type or type#relation (e.g. user, group#member)',
      ]);
    });
  });
});

describe('relationship watch', () => {
  let t: TestServer;
  let conn: string[];
  beforeAll(async () => {
    t = await startTestServer();
    conn = connection(t.endpoint);
    expect((await run(['schema', 'write', ...conn], capture(SCHEMA))).code).toBe(0);
  });
  afterAll(() => t.close());

  it('prints each change from a revision, and the schema update, until stopped (exit 0)', async () => {
    const start = (await run(['relationship', 'create', 'document:w0', 'viewer', 'user:x', ...conn])).out[0];
    const controller = new AbortController();
    const io = capture('', { signal: controller.signal });
    const watching = run(['relationship', 'watch', '--revision', start, ...conn], io);
    await run(['relationship', 'create', 'document:w1', 'viewer', 'group:eng#member', ...conn]);
    await run([
      'relationship',
      'touch',
      'document:w1',
      'viewer',
      'user:y',
      '--caveat',
      'on_level:{"required":1}',
      ...conn,
    ]);
    await run(['relationship', 'delete', 'document:w0', 'viewer', 'user:x', ...conn]);
    await run(['schema', 'write', ...conn], capture(`${SCHEMA}\n\ndefinition folder {}`));
    await until(() => io.lines.length >= 4);
    controller.abort();
    const r = await watching;
    expect(r.code).toBe(0);
    // As SpiceDB's Watch, a create is reported as a touch.
    expect(r.out).toEqual([
      'TOUCHED document:w1 viewer group:eng#member',
      'TOUCHED document:w1 viewer user:y[on_level:{"required":1}]',
      'DELETED document:w0 viewer user:x',
      'SCHEMA UPDATED',
    ]);
    expect(r.err[0]).toBe(`watching all relationships from revision ${start} (Ctrl-C to stop)`);
    expect(r.err[1]).toMatch(/^watch stopped; resume with --revision \S+$/);
  });

  it('filters by object type or --filter, prints JSON lines with --json and timestamps with --timestamp', async () => {
    const start = (await run(['relationship', 'create', 'document:f0', 'viewer', 'user:x', ...conn])).out[0];
    const watchWith = (args: string[]) => {
      const controller = new AbortController();
      const io = capture('', { signal: controller.signal });
      return {
        io,
        stop: () => controller.abort(),
        done: run(['relationship', 'watch', '--revision', start, ...args, ...conn], io),
      };
    };
    const byType = watchWith(['group']);
    const byFilter = watchWith(['--filter', 'document:f%#banned@user:mallory']);
    const json = watchWith(['--object_types', 'document', '--json']);
    const stamped = watchWith(['--filter', 'group:team', '--timestamp']);
    await run(['relationship', 'create', 'document:f1', 'banned', 'user:mallory', ...conn]);
    await run(['relationship', 'create', 'document:f1', 'banned', 'user:other', ...conn]);
    await run(['relationship', 'create', 'group:team', 'member', 'user:z', ...conn]);
    await until(
      () =>
        byType.io.lines.length >= 1 &&
        byFilter.io.lines.length >= 1 &&
        json.io.lines.length >= 2 &&
        stamped.io.lines.length >= 1,
    );
    for (const w of [byType, byFilter, json, stamped]) w.stop();
    expect((await byType.done).out).toEqual(['TOUCHED group:team member user:z']);
    expect((await byFilter.done).out).toEqual(['TOUCHED document:f1 banned user:mallory']);
    const lines = (await json.done).out.map((l) => JSON.parse(l));
    expect(lines.map((l) => l.updates[0].relationship.subject.object.objectId)).toEqual(['mallory', 'other']);
    expect(lines[0].updates[0].operation).toBe('OPERATION_TOUCH');
    expect(lines[0].changesThrough.token).toEqual(expect.any(String));
    expect((await stamped.done).out[0]).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z: TOUCHED group:team member user:z$/,
    );
  });

  it('refuses object types with --filter, and reports a watch the server ends', async () => {
    const both = await run(['relationship', 'watch', 'document', '--filter', 'document:1', ...conn]);
    expect(both).toMatchObject({
      code: 2,
      err: ['error: give object types or --filter, not both (the server refuses both)'],
    });
    const badFilter = await run(['relationship', 'watch', '--filter', 'a@b@c', ...conn]);
    expect(badFilter.err[0]).toMatch(/^error: invalid --filter `a@b@c`/);
    const expired = await run(['relationship', 'watch', '--revision', 'garbage', ...conn]);
    expect(expired.code).toBe(1);
    expect(expired.err.at(-1)).toMatch(/^error: INVALID_ARGUMENT: /);
  });
});

describe('parsing helpers', () => {
  it('subjects, subject filters, watch filters and consistency', () => {
    expect(parseSubjectArg('group:eng#member')).toEqual({
      object: { objectType: 'group', objectId: 'eng' },
      optionalRelation: 'member',
    });
    expect(parseSubjectArg('user:*')).toEqual({ object: { objectType: 'user', objectId: '*' }, optionalRelation: '' });
    expect(parseSubjectFilter('user')).toEqual({ subjectType: 'user', optionalSubjectId: '' });
    expect(parseSubjectFilter('group:eng#member')).toEqual({
      subjectType: 'group',
      optionalSubjectId: 'eng',
      optionalRelation: { relation: 'member' },
    });
    expect(parseWatchFilter('document:doc-%#viewer@group#member')).toMatchObject({
      resourceType: 'document',
      optionalResourceIdPrefix: 'doc-',
      optionalRelation: 'viewer',
      optionalSubjectFilter: { subjectType: 'group', optionalRelation: { relation: 'member' } },
    });
    expect(consistencyFrom({}).requirement).toEqual({ oneofKind: 'minimizeLatency', minimizeLatency: true });
    expect(consistencyFrom({ consistencyAtExactly: 'abc' }).requirement).toEqual({
      oneofKind: 'atExactSnapshot',
      atExactSnapshot: v1.ZedToken.create({ token: 'abc' }),
    });
    expect(() => consistencyFrom({ consistencyAtLeast: ' ' })).toThrow(/a consistency token must not be empty/);
  });

  it('draws trees as zed does', () => {
    expect(
      renderTree({
        label: 'root',
        children: [
          { label: 'a', children: [{ label: 'a1', children: [] }] },
          { label: 'b', children: [] },
        ],
      }),
    ).toEqual(['root', '├── a', '│   └── a1', '└── b']);
  });
});

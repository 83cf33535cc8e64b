/**
 * Issue 11, items 4 and 7: hostile input against the real process. A WriteSchema with a 3 MB string
 * literal in a caveat froze the node for 5–11 s and ended in "Maximum call stack size exceeded";
 * ≥ 5,000 nested parentheses, flat unions or intersections of 10,000 and a 5,000-`+` caveat chain
 * answered INTERNAL (stack overflow); a flat exclusion chain of 5,000–8,184 was accepted and then
 * every Check, Expand and lookup answered INTERNAL. Caveat context NaN/Infinity: INTERNAL. Edited
 * cursors: INTERNAL or silently wrong pages. An HTTP body over the limit: connection reset. HTTP
 * `/v1/watch` with a bad token: HTTP 200 with the error in the body.
 *
 * Here each must be answered promptly with a clean status, never INTERNAL, and the server keeps
 * answering. A hostile schema is refused with INVALID_ARGUMENT; a flat union or intersection of
 * 10,000 may instead be accepted (it is not invalid, only large), and then Check, Expand and both
 * lookups over it must answer, not fail with INTERNAL.
 */
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { useTestPostgres } from '../datastore/postgres-harness.js';
import {
  collect,
  deadlineIn,
  fullyConsistent,
  KEY,
  killAll,
  obj,
  outcome,
  relText,
  report,
  startServer,
  stillAnswers,
  subj,
  touchAll,
  writeSchema,
} from './harness.js';
import type { Outcome } from './harness.js';

/** How long a refusal may take (the 3 MB caveat froze the old server for 5–11 s). */
const PROMPT_MS = 2000;

const dir = mkdtempSync(join(tmpdir(), 'pemba-reliability-hostile-'));
const postgres = useTestPostgres();
afterEach(killAll);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sqlite = (name: string) => ['--datastore-engine', 'sqlite', '--datastore-conn-uri', join(dir, name)];
const repeat = (term: string, op: string, n: number) => Array.from({ length: n }, () => term).join(` ${op} `);

const BASE = `definition user {}
definition doc {
  relation reader: user`;

const HOSTILE_SCHEMAS: { name: string; schema: string; mayBeAccepted: boolean }[] = [
  {
    name: 'a 3 MB string literal in a caveat',
    mayBeAccepted: false,
    schema: `caveat big(x string) {\n  x == "${'a'.repeat(3_000_000)}"\n}\n${BASE}\n}`,
  },
  {
    name: '5,000 nested parentheses',
    mayBeAccepted: false,
    schema: `${BASE}\n  permission view = ${'('.repeat(5000)}reader${')'.repeat(5000)}\n}`,
  },
  {
    name: 'a flat union of 10,000',
    mayBeAccepted: true,
    schema: `${BASE}\n  permission view = ${repeat('reader', '+', 10_000)}\n}`,
  },
  {
    name: 'a flat intersection of 10,000',
    mayBeAccepted: true,
    schema: `${BASE}\n  permission view = ${repeat('reader', '&', 10_000)}\n}`,
  },
  {
    name: 'a caveat chain of 5,000 +',
    mayBeAccepted: false,
    schema: `caveat chain(x int) {\n  ${repeat('x', '+', 5001)} > 0\n}\n${BASE}\n}`,
  },
  {
    name: 'a flat exclusion chain of 6,000',
    mayBeAccepted: false,
    schema: `${BASE}\n  permission view = ${repeat('reader', '-', 6000)}\n}`,
  },
];

const clean = (o: Outcome) => !['INTERNAL', 'UNKNOWN', 'non-gRPC error'].includes(o.codeName);

describe('hostile input against the real process', () => {
  it('hostile schemas: INVALID_ARGUMENT (or accepted and then answered), promptly, never INTERNAL; the server keeps answering', async () => {
    const s = await startServer(sqlite('schemas.db'));
    const client = s.client();
    await writeSchema(client, `${BASE}\n}`);
    await touchAll(client, ['doc:d1#reader@user:ann']);
    const results: Record<string, unknown>[] = [];
    const failures: string[] = [];
    for (const h of HOSTILE_SCHEMAS) {
      const written = await outcome(() =>
        client.promises.writeSchema(
          v1.WriteSchemaRequest.create({ schema: h.schema }),
          new grpc.Metadata(),
          deadlineIn(60_000),
        ),
      );
      const row: Record<string, unknown> = {
        name: h.name,
        bytes: h.schema.length,
        writeSchema: written.codeName,
        ms: Math.round(written.ms),
        details: written.details.slice(0, 120),
      };
      const allowed = h.mayBeAccepted ? ['INVALID_ARGUMENT', 'OK'] : ['INVALID_ARGUMENT'];
      if (!allowed.includes(written.codeName))
        failures.push(`${h.name}: WriteSchema ${written.codeName} ${written.details.slice(0, 200)}`);
      if (written.ms > PROMPT_MS) failures.push(`${h.name}: WriteSchema took ${Math.round(written.ms)} ms`);
      if (written.codeName === 'OK') {
        // Accepted: every API over the permission must answer cleanly.
        const calls = {
          check: await outcome(() =>
            client.promises.checkPermission(
              v1.CheckPermissionRequest.create({
                resource: obj('doc', 'd1'),
                permission: 'view',
                subject: subj('user', 'ann'),
                consistency: fullyConsistent(),
              }),
              new grpc.Metadata(),
              deadlineIn(10_000),
            ),
          ),
          expand: await outcome(() =>
            client.promises.expandPermissionTree(
              v1.ExpandPermissionTreeRequest.create({
                resource: obj('doc', 'd1'),
                permission: 'view',
                consistency: fullyConsistent(),
              }),
              new grpc.Metadata(),
              deadlineIn(10_000),
            ),
          ),
          lookupResources: await outcome(() =>
            collect(
              client.lookupResources(
                v1.LookupResourcesRequest.create({
                  resourceObjectType: 'doc',
                  permission: 'view',
                  subject: subj('user', 'ann'),
                  consistency: fullyConsistent(),
                }),
                new grpc.Metadata(),
                deadlineIn(10_000),
              ),
            ),
          ),
          lookupSubjects: await outcome(() =>
            collect(
              client.lookupSubjects(
                v1.LookupSubjectsRequest.create({
                  resource: obj('doc', 'd1'),
                  permission: 'view',
                  subjectObjectType: 'user',
                  consistency: fullyConsistent(),
                }),
                new grpc.Metadata(),
                deadlineIn(10_000),
              ),
            ),
          ),
        };
        row.after = Object.fromEntries(
          Object.entries(calls).map(([k, o]) => [k, `${o.codeName} ${Math.round(o.ms)} ms`]),
        );
        for (const [k, o] of Object.entries(calls))
          if (!clean(o)) failures.push(`${h.name}: ${k} ${o.codeName} ${o.details.slice(0, 200)}`);
        // Back to the plain schema for the next one.
        await writeSchema(client, `${BASE}\n}`);
      }
      const answers = await stillAnswers(s);
      row.stillAnswers = answers;
      if (!answers) failures.push(`${h.name}: the server stopped answering`);
      results.push(row);
      if (!s.alive()) break;
    }
    report('hostile schemas', { results });
    expect(failures).toEqual([]);
    expect(s.alive()).toBe(true);
  });

  it('caveat context NaN and ±Infinity: INVALID_ARGUMENT, in a Check and in a written relationship', async () => {
    const s = await startServer(sqlite('caveats.db'));
    const client = s.client();
    await writeSchema(
      client,
      `caveat small(x int) {\n  x < 10\n}\n${BASE}\n  relation cav: user with small\n  permission view = cav\n}`,
    );
    const failures: string[] = [];
    const rows: string[] = [];
    for (const [name, n] of [
      ['NaN', NaN],
      ['Infinity', Infinity],
      ['-Infinity', -Infinity],
    ] as const) {
      const context = { fields: { x: { kind: { oneofKind: 'numberValue' as const, numberValue: n } } } };
      const checked = await outcome(() =>
        client.promises.checkPermission(
          v1.CheckPermissionRequest.create({
            resource: obj('doc', 'd1'),
            permission: 'view',
            subject: subj('user', 'ann'),
            consistency: fullyConsistent(),
            context,
          }),
          new grpc.Metadata(),
          deadlineIn(10_000),
        ),
      );
      const written = await outcome(() =>
        client.promises.writeRelationships(
          v1.WriteRelationshipsRequest.create({
            updates: [
              v1.RelationshipUpdate.create({
                operation: v1.RelationshipUpdate_Operation.TOUCH,
                relationship: {
                  resource: obj('doc', `nan_${name}`),
                  relation: 'cav',
                  subject: subj('user', 'ann'),
                  optionalCaveat: { caveatName: 'small', context },
                },
              }),
            ],
          }),
          new grpc.Metadata(),
          deadlineIn(10_000),
        ),
      );
      rows.push(
        `${name}: Check ${checked.codeName} (${checked.details.slice(0, 80)}), WriteRelationships ${written.codeName} (${written.details.slice(0, 80)})`,
      );
      if (checked.codeName !== 'INVALID_ARGUMENT')
        failures.push(`Check with x=${name}: ${checked.codeName} ${checked.details}`);
      if (written.codeName !== 'INVALID_ARGUMENT')
        failures.push(`WriteRelationships with x=${name}: ${written.codeName} ${written.details}`);
    }
    report('hostile caveat context', { results: rows });
    expect(failures).toEqual([]);
    expect(await stillAnswers(s)).toBe(true);
  });

  for (const engine of ['sqlite', 'postgres'] as const) {
    it(`edited cursors (${engine}): INVALID_ARGUMENT, never INTERNAL nor a wrong page`, async () => {
      const s = await startServer(
        engine === 'sqlite'
          ? sqlite('cursors.db')
          : ['--datastore-engine', 'postgres', '--datastore-conn-uri', await postgres.migratedUri()],
      );
      const client = s.client();
      await writeSchema(client, `${BASE}\n  permission view = reader\n}`);
      await touchAll(
        client,
        Array.from({ length: 50 }, (_, i) => `doc:d${String(i).padStart(3, '0')}#reader@user:ann`),
      );
      const read = (cursor?: string) =>
        collect(
          client.readRelationships(
            v1.ReadRelationshipsRequest.create({
              relationshipFilter: { resourceType: 'doc' },
              consistency: fullyConsistent(),
              optionalLimit: 10,
              optionalCursor: cursor === undefined ? undefined : { token: cursor },
            }),
            new grpc.Metadata(),
            deadlineIn(10_000),
          ),
        );
      const lookup = (cursor?: string) =>
        collect(
          client.lookupResources(
            v1.LookupResourcesRequest.create({
              resourceObjectType: 'doc',
              permission: 'view',
              subject: subj('user', 'ann'),
              consistency: fullyConsistent(),
              optionalLimit: 10,
              optionalCursor: cursor === undefined ? undefined : { token: cursor },
            }),
            new grpc.Metadata(),
            deadlineIn(10_000),
          ),
        );
      const kinds = {
        ReadRelationships: {
          first: async () => {
            const page = await read();
            return {
              cursor: page[page.length - 1].afterResultCursor!.token,
              ids: page.map((r) => relText(r.relationship)),
            };
          },
          next: async (cursor: string) => (await read(cursor)).map((r) => relText(r.relationship)),
        },
        LookupResources: {
          first: async () => {
            const page = await lookup();
            return { cursor: page[page.length - 1].afterResultCursor!.token, ids: page.map((r) => r.resourceObjectId) };
          },
          next: async (cursor: string) => (await lookup(cursor)).map((r) => r.resourceObjectId),
        },
      };
      const failures: string[] = [];
      const tally: Record<string, Record<string, number>> = {};
      for (const [kind, api] of Object.entries(kinds)) {
        const { cursor } = await api.first();
        const expected = await api.next(cursor);
        const edits = new Set<string>();
        // 32 positions spread over the cursor flipped to a neighbouring base64url character, and a few other edits.
        for (let k = 0; k < 32; k++) {
          const i = Math.floor((k * (cursor.length - 1)) / 31);
          const c = cursor[i];
          edits.add(
            cursor.slice(0, i) +
              (c === 'A' ? 'B' : c === '_' ? '-' : String.fromCharCode(c.charCodeAt(0) ^ 1)) +
              cursor.slice(i + 1),
          );
        }
        edits.add(cursor.slice(0, -1));
        edits.add(cursor.slice(1));
        edits.add(`${cursor}A`);
        edits.add(cursor.split('').reverse().join(''));
        edits.add('not-a-cursor');
        edits.add('');
        edits.delete(cursor);
        const counts: Record<string, number> = {};
        for (const edited of edits) {
          if (edited === '') continue; // an empty token is no cursor: the first page
          const o = await outcome(() => api.next(edited));
          counts[o.codeName] = (counts[o.codeName] ?? 0) + 1;
          if (o.codeName === 'OK') {
            const same = JSON.stringify(o.value) === JSON.stringify(expected);
            if (!same) failures.push(`${kind}: cursor edited to ${edited} answered a different page`);
          } else if (o.codeName !== 'INVALID_ARGUMENT')
            failures.push(`${kind}: cursor edited to ${edited}: ${o.codeName} ${o.details.slice(0, 120)}`);
        }
        tally[kind] = counts;
      }
      report(`edited cursors, ${engine}`, { statuses: tally });
      expect(failures).toEqual([]);
      expect(await stillAnswers(s)).toBe(true);
    });
  }

  it('HTTP: a body over the limit is answered with an HTTP error, not a reset; /v1/watch with a bad token is HTTP 400', async () => {
    const s = await startServer([...sqlite('http.db'), '--grpc-max-message-size', String(1024 * 1024)], { http: true });
    await writeSchema(s.client(), `${BASE}\n}`);
    const post = (path: string, body: Buffer | string, key: string | undefined) =>
      new Promise<{ status?: number; body: string; error?: string }>((resolvePost) => {
        const url = new URL(path, s.httpBase);
        let answered: { status?: number; body: string } | undefined;
        const req = request(
          url,
          {
            method: 'POST',
            headers: { ...(key ? { Authorization: `Bearer ${key}` } : {}), 'Content-Type': 'application/json' },
          },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString('utf8')));
            res.on('end', () => resolvePost({ status: res.statusCode, body: text.slice(0, 300) }));
            res.on('error', (e) => resolvePost({ status: res.statusCode, body: text, error: e.message }));
            answered = { status: res.statusCode, body: '' };
          },
        );
        // A write error after the answer arrived (the server stopped reading) is not a reset of the answer.
        req.on('error', (e) => {
          if (!answered) resolvePost({ body: '', error: `${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}` });
        });
        req.end(body);
      });
    const timed = async (p: Promise<{ status?: number; body: string; error?: string }>) => {
      const start = performance.now();
      return { ...(await p), ms: Math.round(performance.now() - start) };
    };
    const big = Buffer.alloc(5 * 1024 * 1024, 'a');
    const overLimit = await timed(post('/v1/relationships/write', big, KEY));
    const overLimitKeyless = await timed(post('/v1/relationships/write', big, undefined));
    const badWatch = await timed(
      post('/v1/watch', JSON.stringify({ optionalStartCursor: { token: 'not-a-token' } }), KEY),
    );
    const badWatch2 = await timed(
      post('/v1/watch', JSON.stringify({ optionalStartCursor: { token: 'GgYKBENJbQ==' } }), KEY),
    );
    report('hostile HTTP', { overLimit, overLimitKeyless, badWatch, badWatch2 });
    for (const r of [overLimit, overLimitKeyless, badWatch, badWatch2])
      expect(r.ms, 'answered promptly').toBeLessThan(PROMPT_MS);
    expect(overLimit.error, 'a 5 MiB body: an answer, not a reset').toBeUndefined();
    expect(overLimit.status, 'a 5 MiB body with the key').toBeGreaterThanOrEqual(400);
    expect(overLimit.status).toBeLessThan(500);
    expect(overLimitKeyless.error, 'a 5 MiB body without a key: an answer, not a reset').toBeUndefined();
    expect(overLimitKeyless.status).toBe(401);
    expect(badWatch.status, '/v1/watch with a bad token').toBe(400);
    expect(badWatch2.status, '/v1/watch with a bad token').toBe(400);
    expect(await stillAnswers(s)).toBe(true);
  });
});

/**
 * Hostile schemas and caveat contexts through the real server: each is refused with INVALID_ARGUMENT
 * and a message naming the limit and where, within a second, and the server keeps answering. What the
 * limits let through (a flat union of 10,000, a rewrite tree exactly at the depth limit) then works
 * in every API.
 */
import { v1 } from '@authzed/authzed-node';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileSchema } from '../../src/schema/index.js';
import type { Rewrite } from '../../src/schema/ir.js';
import { MAX_NESTING_DEPTH } from '../../src/schema/limits.js';
import { fullyConsistent, grpcError, KEY, obj, startTestServer, subj, update } from './harness.js';
import type { TestServer } from './harness.js';

let t: TestServer;
let p: v1.ZedPromiseClientInterface;

/** Generous for a shared machine: every call here takes milliseconds to a few hundred on an idle one. */
const RESPONSIVE_MS = 1000;

const HAS = v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION;
const NO = v1.CheckPermissionResponse_Permissionship.NO_PERMISSION;

const SCHEMA_HEAD =
  'caveat positive(d double) {\n  d > 0.0\n}\n\ndefinition user {}\n\ndefinition doc {\n  relation aaa: user | user with positive\n  relation bbb: user\n';
const schemaWith = (permissions: string) => `${SCHEMA_HEAD}${permissions}\n}`;
const BASE = schemaWith('  permission ppp = aaa');

const names = (n: number) => Array.from({ length: n }, (_, i) => (i % 2 ? 'bbb' : 'aaa'));

/** `aaa - (bbb & (aaa + (bbb - …)))`: every operator, `levels` deep. */
function mixed(levels: number): string {
  const ops = [' - ', ' & ', ' + '];
  let text = 'aaa';
  for (let i = levels - 1; i >= 1; i--) text = `${i % 2 ? 'bbb' : 'aaa'}${ops[i % 3]}(${text})`;
  return text;
}

/** Times a call that must fail, returning its gRPC error. */
async function refused(call: Promise<unknown>) {
  const started = performance.now();
  const error = await grpcError(call);
  expect(performance.now() - started).toBeLessThan(RESPONSIVE_MS);
  return error;
}

const writeSchema = (schema: string) => p.writeSchema(v1.WriteSchemaRequest.create({ schema }));

const check = (permission: string, userId: string, context?: v1.PbStruct) =>
  p.checkPermission(
    v1.CheckPermissionRequest.create({
      resource: obj('doc', 'one'),
      permission,
      subject: subj('user', userId),
      consistency: fullyConsistent(),
      context,
    }),
  );

/** The server still answers at once, with the schema it had. */
async function stillServing(schema: string) {
  const started = performance.now();
  expect((await p.readSchema(v1.ReadSchemaRequest.create())).schemaText).toBe(schema);
  expect(performance.now() - started).toBeLessThan(RESPONSIVE_MS);
}

beforeAll(async () => {
  t = await startTestServer({ grpcMaxMessageSize: String(6 * 1024 * 1024) });
  p = t.client.promises;
  await writeSchema(BASE);
  // ann: aaa only; bob: aaa and bbb; cat: nothing.
  await p.writeRelationships(
    v1.WriteRelationshipsRequest.create({
      updates: ['doc:one#aaa@user:ann', 'doc:one#aaa@user:bob', 'doc:one#bbb@user:bob'].map((r) => update('CREATE', r)),
    }),
  );
});

afterAll(async () => {
  await t?.close();
});

describe('WriteSchema refuses hostile schemas with INVALID_ARGUMENT, quickly', () => {
  it('a caveat with a 3 MB string literal, before parsing it', async () => {
    const e = await refused(writeSchema(`caveat big(x string) {\n  x == "${'a'.repeat(3_000_000)}"\n}\n${BASE}`));
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(e.reason).toBe('ERROR_REASON_SCHEMA_PARSE_ERROR');
    expect(e.details).toBe(
      'invalid expression for caveat `big`: caveat expression provided exceeds maximum allowed size of 100000 characters (line 2, column 3)',
    );
    await stillServing(BASE);
  });

  it('5,000 nested parentheses in a permission', async () => {
    const e = await refused(writeSchema(schemaWith(`  permission ppp = ${'('.repeat(5000)}aaa${')'.repeat(5000)}`)));
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(e.details).toBe(
      'under permission `ppp`: parentheses nest deeper than the maximum depth of 100 (line 10, column 120)',
    );
    await stillServing(BASE);
  });

  it.each([5000, 8184])('a flat exclusion chain of %i operands, which every request would recurse over', async (n) => {
    const e = await refused(writeSchema(schemaWith(`  permission ppp = ${names(n).join(' - ')}`)));
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(e.details).toMatch(
      /^under permission `ppp` under definition `doc`: expression nests deeper than the maximum depth of 100 \(line 10, column \d+\)$/,
    );
    await stillServing(BASE);
  });

  it('a caveat expression with a chain of 5,000 `+`', async () => {
    const e = await refused(writeSchema(`caveat sum(x int) {\n  x${' + x'.repeat(5000)} > 0\n}\n${BASE}`));
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(e.details).toBe(
      'invalid expression for caveat `sum`: max recursion depth exceeded: the expression nests deeper than 251 levels (line 2, column 1005)',
    );
    await stillServing(BASE);
  });
});

describe('what the limits let through works everywhere', () => {
  it.each([
    ['union', ' + ', { ann: HAS, bob: HAS, cat: NO }],
    ['intersection', ' & ', { ann: NO, bob: HAS, cat: NO }],
  ])('a flat %s of 10,000 operands', async (_kind, op, expected) => {
    const schema = schemaWith(`  permission ppp = ${names(10_000).join(op)}`);
    await writeSchema(schema);
    for (const [user, permissionship] of Object.entries(expected)) {
      const started = performance.now();
      expect((await check('ppp', user)).permissionship, user).toBe(permissionship);
      expect(performance.now() - started).toBeLessThan(RESPONSIVE_MS);
    }
    expect((await p.readSchema(v1.ReadSchemaRequest.create())).schemaText).toBe(schema);
    await writeSchema(BASE);
  });

  it.each([
    ['an exclusion chain', `aaa${' - bbb'.repeat(MAX_NESTING_DEPTH - 1)}`],
    ['a tree of every operator', mixed(MAX_NESTING_DEPTH)],
  ])('%s exactly at the depth limit: Check, Expand, LookupResources and LookupSubjects', async (_what, expression) => {
    const schema = schemaWith(`  permission ppp = ${expression}`);
    const rewrite = compileSchema(schema).definitions.get('doc')!.relations.get('ppp')!.rewrite;
    expect(depth(rewrite)).toBe(MAX_NESTING_DEPTH);
    await writeSchema(schema);
    const members = { ann: new Set(['aaa']), bob: new Set(['aaa', 'bbb']), cat: new Set<string>() };
    const granted = Object.keys(members).filter((u) => holds(rewrite, members[u as keyof typeof members]));
    expect(granted.length).toBeGreaterThan(0);

    for (const user of Object.keys(members)) {
      expect((await check('ppp', user)).permissionship, user).toBe(granted.includes(user) ? HAS : NO);
    }
    const tree = await p.expandPermissionTree(
      v1.ExpandPermissionTreeRequest.create({
        resource: obj('doc', 'one'),
        permission: 'ppp',
        consistency: fullyConsistent(),
      }),
    );
    expect(treeDepth(tree.treeRoot)).toBeGreaterThanOrEqual(MAX_NESTING_DEPTH / 2);
    for (const user of granted) {
      const resources = await p.lookupResources(
        v1.LookupResourcesRequest.create({
          resourceObjectType: 'doc',
          permission: 'ppp',
          subject: subj('user', user),
          consistency: fullyConsistent(),
        }),
      );
      expect(resources.map((r) => r.resourceObjectId)).toEqual(['one']);
    }
    const subjects = await p.lookupSubjects(
      v1.LookupSubjectsRequest.create({
        resource: obj('doc', 'one'),
        permission: 'ppp',
        subjectObjectType: 'user',
        consistency: fullyConsistent(),
      }),
    );
    expect(subjects.map((s) => s.subject?.subjectObjectId).sort()).toEqual(granted.sort());
    await writeSchema(BASE);
  });
});

describe('caveat context numbers that JSON cannot carry', () => {
  const context = (d: number) =>
    v1.PbStruct.create({ fields: { d: { kind: { oneofKind: 'numberValue', numberValue: d } } } });

  it.each([NaN, Infinity, -Infinity])('CheckPermission with %s refuses it naming the field', async (n) => {
    await p.writeRelationships(
      v1.WriteRelationshipsRequest.create({
        updates: [update('TOUCH', 'doc:one#aaa@user:dan')].map((u) => {
          u.relationship!.optionalCaveat = { caveatName: 'positive' };
          return u;
        }),
      }),
    );
    const e = await refused(check('ppp', 'dan', context(n)));
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(e.details).toBe(`caveat context value \`d\` is ${n}, but context numbers must be finite`);
    expect((await check('ppp', 'dan', context(1))).permissionship).toBe(HAS);
  });

  it.each([NaN, Infinity])('WriteRelationships with %s in a stored context refuses it naming the field', async (n) => {
    const u = update('TOUCH', 'doc:one#aaa@user:eve');
    u.relationship!.optionalCaveat = { caveatName: 'positive', context: context(n) };
    const e = await refused(p.writeRelationships(v1.WriteRelationshipsRequest.create({ updates: [u] })));
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(e.details).toBe(`caveat context value \`d\` is ${n}, but context numbers must be finite`);
  });

  it('the HTTP gateway refuses a number too large for a double (JSON reads it as Infinity)', async () => {
    const r = await fetch(`${t.httpBase}/v1/permissions/check`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${KEY}` },
      body: `{"consistency": {"fullyConsistent": true}, "resource": {"objectType": "doc", "objectId": "one"}, "permission": "ppp",
        "subject": {"object": {"objectType": "user", "objectId": "dan"}}, "context": {"d": 1e999}}`,
    });
    expect(r.status).toBe(400);
    expect(await r.json()).toMatchObject({
      code: status.INVALID_ARGUMENT,
      message: 'caveat context value `d` is Infinity, but context numbers must be finite',
    });
  });
});

function depth(r: Rewrite): number {
  if (r.kind === 'exclusion') return 1 + Math.max(depth(r.base), depth(r.subtract));
  if (r.kind === 'union' || r.kind === 'intersection') return 1 + Math.max(...r.children.map(depth));
  return 1;
}

/** Whether a user who is exactly in `member` has the permission (an independent evaluation of the IR). */
function holds(r: Rewrite, member: Set<string>): boolean {
  switch (r.kind) {
    case 'computed':
      return member.has(r.relation);
    case 'union':
      return r.children.some((c) => holds(c, member));
    case 'intersection':
      return r.children.every((c) => holds(c, member));
    case 'exclusion':
      return holds(r.base, member) && !holds(r.subtract, member);
    default:
      throw new Error(`unexpected ${r.kind}`);
  }
}

function treeDepth(t: v1.PermissionRelationshipTree | undefined): number {
  if (t?.treeType.oneofKind !== 'intermediate') return 1;
  return 1 + Math.max(0, ...t.treeType.intermediate.children.map(treeDepth));
}

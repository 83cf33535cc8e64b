/**
 * Expand answers with the tree real SpiceDB answers with (each expectation was first asked of SpiceDB):
 * a permission of one operand is a union of it, an arrow has one child per relationship, and an object
 * without the arrow's target relation is an empty leaf.
 */
import { describe, expect, it } from 'vitest';
import { Pemba } from '../../src/pemba.js';
import { formatSubject, parseRelationship } from '../../src/relationships/relationship-string.js';
import type { ExpandTree } from '../../src/requests/requests.js';

const schema = `
definition user {}
definition folder {
  relation viewer: user
}
definition document {
  relation folder: folder | user
  relation reader: user:* | user
  relation grp: user
  relation banned: document#grp | document#folder
  permission one = reader
  permission arrow = folder->viewer
  permission none = nil
  permission through = banned->reader
  permission both = reader + one
}`;

const relationships = [
  'document:d1#reader@user:*',
  'document:d1#folder@folder:f1',
  'document:d1#folder@user:u1',
  'folder:f1#viewer@user:u2',
  'document:d2#banned@document:d1#grp',
  'document:d2#banned@document:d1#folder',
];

/** `union(document:d1#one: document:d1#reader[user:*])` */
function show(t: ExpandTree): string {
  const at = `${t.expandedObject.type}:${t.expandedObject.id}#${t.expandedRelation}`;
  if (t.kind === 'leaf') return `${at}[${t.subjects.map(formatSubject).join(', ')}]`;
  return `${t.operation}(${at}: ${t.children.map(show).join(' ; ')})`;
}

describe('expand', () => {
  it('answers with SpiceDB’s tree', async () => {
    const p = await Pemba.open();
    await p.writeSchema(schema);
    await p.writeRelationships({
      updates: relationships.map((r) => ({ operation: 'TOUCH' as const, relationship: parseRelationship(r) })),
    });
    const expand = async (id: string, permission: string) =>
      show(
        (await p.expand({ resource: { type: 'document', id }, permission, consistency: { mode: 'fully_consistent' } }))
          .tree,
      );
    expect(await expand('d1', 'one')).toBe('union(document:d1#one: document:d1#reader[user:*])');
    expect(await expand('d1', 'none')).toBe('union(document:d1#none: document:d1#none[])');
    expect(await expand('d1', 'arrow')).toBe(
      'union(document:d1#arrow: union(document:d1#arrow: folder:f1#viewer[user:u2] ; document:d1#arrow[]))',
    );
    expect(await expand('d2', 'through')).toBe(
      'union(document:d2#through: union(document:d2#through: document:d1#reader[user:*] ; document:d1#reader[user:*]))',
    );
    expect(await expand('d1', 'both')).toBe(
      'union(document:d1#both: document:d1#reader[user:*] ; union(document:d1#one: document:d1#reader[user:*]))',
    );
    expect(await expand('d1', 'reader')).toBe('document:d1#reader[user:*]');
  });
});

import { describe, expect, it } from 'vitest';
import { matchesPatterns } from '../../src/datastore/relation-patterns.js';
import { filterToQuery, watchPatterns } from '../../src/relationships/relationship-filter.js';
import type { Relationship, RelationshipFilter } from '../../src/relationships/relationship.js';

const rel = (resourceType: string, relation: string, subjectType: string, subjectRelation = '...'): Relationship => ({
  resource: { type: resourceType, id: 'x' },
  relation,
  subject: { type: subjectType, id: 'y', relation: subjectRelation },
});

describe('watchPatterns', () => {
  const q = (f: RelationshipFilter) => filterToQuery(f);

  it('wants everything without types or filters', () => {
    expect(watchPatterns([], [])).toBeUndefined();
  });

  it('asks for object types as resource types', () => {
    expect(watchPatterns(['doc', 'folder'], [])).toEqual([{ resourceType: 'doc' }, { resourceType: 'folder' }]);
  });

  it('keeps a filter’s type-level fields, not its ids or prefixes', () => {
    expect(
      watchPatterns(
        [],
        [
          q({ resourceType: 'doc', resourceId: 'd1', relation: 'reader' }),
          q({ resourceIdPrefix: 'd', subject: { type: 'group', id: 'g', relation: '' } }),
          q({ resourceType: 'folder', subject: { type: 'user' } }),
        ],
      ),
    ).toEqual([
      { resourceType: 'doc', relation: 'reader' },
      { subjectType: 'group', subjectRelation: '...' },
      { resourceType: 'folder', subjectType: 'user' },
    ]);
  });

  it('ANDs object types with filters: a filter of another type is dropped, an untyped one asks per type', () => {
    expect(
      watchPatterns(
        ['doc'],
        [q({ resourceType: 'folder' }), q({ resourceType: 'doc', relation: 'owner' }), q({ relation: 'viewer' })],
      ),
    ).toEqual([
      { resourceType: 'doc', relation: 'owner' },
      { resourceType: 'doc', relation: 'viewer' },
    ]);
    expect(watchPatterns(['doc'], [q({ resourceType: 'folder' })])).toEqual([]);
  });

  it('never leaves out a change the exact filter wants', () => {
    // Every combination of fields over a few values: what the filter matches, the patterns match.
    const values = { type: ['doc', 'group'], relation: ['reader', 'member'], subjectRelation: ['...', 'member'] };
    const rels: Relationship[] = [];
    for (const a of values.type)
      for (const r of values.relation)
        for (const b of values.type) for (const sr of values.subjectRelation) rels.push(rel(a, r, b, sr));
    const filters: RelationshipFilter[] = [
      { resourceType: 'doc' },
      { relation: 'member' },
      { subject: { type: 'group', relation: 'member' } },
      { resourceType: 'group', relation: 'reader', subject: { type: 'doc', relation: '' } },
      { resourceIdPrefix: 'x' },
    ];
    for (const types of [[], ['doc'], ['doc', 'group']]) {
      for (const f of filters) {
        const patterns = watchPatterns(types, [q(f)]);
        for (const r of rels) {
          const wanted =
            (types.length === 0 || types.includes(r.resource.type)) &&
            (f.resourceType === undefined || f.resourceType === r.resource.type) &&
            (f.relation === undefined || f.relation === r.relation) &&
            (f.subject === undefined ||
              (f.subject.type === r.subject.type &&
                (f.subject.relation === undefined || (f.subject.relation || '...') === r.subject.relation)));
          if (wanted)
            expect(
              matchesPatterns(r, patterns),
              `${JSON.stringify(f)} ${JSON.stringify(types)} ${JSON.stringify(r)}`,
            ).toBe(true);
        }
      }
    }
  });
});

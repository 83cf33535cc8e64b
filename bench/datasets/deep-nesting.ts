/**
 * Dataset 2, deep nesting: a chain of groups 40 deep (g0 ∋ g1#member ∋ … ∋ g39#member), the
 * deepest holding 10,000 users (at scale 1), 25 direct users at every level, outsiders in
 * unrelated side groups, and resources granted to a group at a random level plus a few users.
 * A negative check must walk the whole chain below the granted level.
 */
import type { Relationship } from '../../src/relationships/relationship.js';
import { Rng } from '../rng.js';
import type { CheckMix, CheckQuery, Dataset } from './dataset.js';
import { chunk, obj, rel, subject } from './dataset.js';

const SCHEMA = `definition user {}

definition group {
  relation member: user | group#member
}

definition resource {
  relation viewer: user | group#member
  permission view = viewer
}
`;

const DEPTH = 40;
const PER_LEVEL = 25;
const SIDE_GROUPS = 20;

export function deepNestingDataset(scale: number, seed: number): Dataset {
  const rng = new Rng(`deep/${seed}`);
  const width = Math.max(100, Math.round(10_000 * scale));
  const nOutsiders = width;
  const nResources = Math.max(100, Math.round(1_000 * scale));
  // User ids: [0, DEPTH·PER_LEVEL) level members, then the wide bottom, then outsiders.
  const levelUser = (level: number, i: number) => level * PER_LEVEL + i;
  const bottomUser = (i: number) => DEPTH * PER_LEVEL + i;
  const outsider = (i: number) => DEPTH * PER_LEVEL + width + i;
  const nUsers = DEPTH * PER_LEVEL + width + nOutsiders;

  const resourceLevel = new Int32Array(nResources);
  const resourceUsers: number[][] = [];
  for (let r = 0; r < nResources; r++) {
    resourceLevel[r] = rng.int(DEPTH);
    resourceUsers.push(rng.distinct(rng.count(2), nUsers));
  }

  const user = (u: number) => subject('user', `u${u}`);
  const group = (g: number) => obj('group', `g${g}`);

  function* each(): Iterable<Relationship> {
    for (let g = 0; g < DEPTH; g++) {
      if (g + 1 < DEPTH) yield rel(group(g), 'member', subject('group', `g${g + 1}`, 'member'));
      for (let i = 0; i < PER_LEVEL; i++) yield rel(group(g), 'member', user(levelUser(g, i)));
    }
    for (let i = 0; i < width; i++) yield rel(group(DEPTH - 1), 'member', user(bottomUser(i)));
    for (let i = 0; i < nOutsiders; i++) yield rel(obj('group', `side${i % SIDE_GROUPS}`), 'member', user(outsider(i)));
    for (let r = 0; r < nResources; r++) {
      yield rel(obj('resource', `r${r}`), 'viewer', subject('group', `g${resourceLevel[r]}`, 'member'));
      for (const u of resourceUsers[r]) yield rel(obj('resource', `r${r}`), 'viewer', user(u));
    }
  }

  /** A member of group g_level or of a deeper group: half the time one of the wide bottom. */
  const memberAtOrBelow = (rng: Rng, level: number) =>
    rng.chance(0.5) ? bottomUser(rng.int(width)) : levelUser(level + rng.int(DEPTH - level), rng.int(PER_LEVEL));

  const check = (r: number, u: number): CheckQuery => ({
    resource: obj('resource', `r${r}`),
    permission: 'view',
    subject: user(u),
  });

  return {
    name: 'deep',
    title: `Deep nesting (scale ${scale})`,
    schema: SCHEMA,
    sizes: {
      users: nUsers,
      groups: DEPTH + SIDE_GROUPS,
      depth: DEPTH,
      'deepest group width': width,
      resources: nResources,
    },
    notes: [
      `chain of ${DEPTH} groups, ${PER_LEVEL} direct users per level, ${width} users in the deepest; ${nOutsiders} outsiders in ${SIDE_GROUPS} side groups`,
      'each resource: viewer = one chain group at a random level, plus ~2 random users',
      'negative mix: 90% outsiders; positive mix: 80% a member at or below the granted level',
    ],
    relationships: () => chunk(each()),
    sampleCheck(rng: Rng, mix: CheckMix): CheckQuery {
      const r = rng.int(nResources);
      if (mix === 'negative') return check(r, rng.chance(0.9) ? outsider(rng.int(nOutsiders)) : rng.int(nUsers));
      return check(r, rng.chance(0.8) ? memberAtOrBelow(rng, resourceLevel[r]) : rng.int(nUsers));
    },
    sampleLookupResources(rng) {
      const x = rng.next();
      const u =
        x < 0.5
          ? bottomUser(rng.int(width))
          : x < 0.75
            ? levelUser(rng.int(DEPTH), rng.int(PER_LEVEL))
            : outsider(rng.int(nOutsiders));
      return { resourceType: 'resource', permission: 'view', subject: user(u) };
    },
    sampleLookupSubjects: (rng) => ({
      resource: obj('resource', `r${rng.int(nResources)}`),
      permission: 'view',
      subjectType: 'user',
    }),
    sampleWrite: (rng) => rel(obj('resource', `r${rng.int(nResources)}`), 'viewer', user(rng.int(nUsers))),
  };
}

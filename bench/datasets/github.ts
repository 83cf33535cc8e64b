/**
 * Dataset 1, GitHub-like: users; teams nested in teams as a random forest whose parents are drawn
 * with a bias towards old teams (so a few teams contain hundreds of teams transitively);
 * organizations with admins and members (users and team#member); repositories with an org and
 * reader/writer/admin grants. At scale 1: 10,000 users, 1,000 teams, 50 orgs, 20,000 repos,
 * about 100,000 relationships.
 */
import type { Relationship } from '../../src/relationships/relationship.js';
import { Rng } from '../rng.js';
import type { CheckMix, CheckQuery, Dataset } from './dataset.js';
import { chunk, obj, rel, subject } from './dataset.js';

const SCHEMA = `definition user {}

definition team {
  relation member: user | team#member
}

definition organization {
  relation admin: user | team#member
  relation member: user | team#member
  permission manage = admin
  permission view = member + admin
}

definition repository {
  relation org: organization
  relation reader: user | team#member
  relation writer: user | team#member
  relation admin: user | team#member
  permission manage = admin + org->manage
  permission write = writer + manage
  permission read = reader + write + org->view
}
`;

/** Grant levels: what a grant gives, and what a permission needs (read 1 ≤ write 2 ≤ manage 3). */
const RELATION_OF_LEVEL = ['', 'reader', 'writer', 'admin'];
const PERMISSION_OF_LEVEL = ['', 'read', 'write', 'manage'];

interface Grant {
  level: number;
  team: boolean;
  id: number;
}

/** Grants as parallel flat arrays, so ×10 stays compact. */
class Grants {
  readonly level: number[] = [];
  readonly team: boolean[] = [];
  readonly id: number[] = [];
  add(level: number, team: boolean, id: number): void {
    this.level.push(level);
    this.team.push(team);
    this.id.push(id);
  }
  at(i: number): Grant {
    return { level: this.level[i], team: this.team[i], id: this.id[i] };
  }
}

export function githubDataset(scale: number, seed: number): Dataset {
  const rng = new Rng(`github/${seed}`);
  const nUsers = Math.max(50, Math.round(10_000 * scale));
  const nTeams = Math.max(10, Math.round(1_000 * scale));
  const nOrgs = Math.max(2, Math.round(50 * scale));
  const nRepos = Math.max(20, Math.round(20_000 * scale));
  const nRoots = Math.max(1, Math.round(nTeams / 200));

  // Team forest: parent drawn as floor(r^1.5 · i), so early teams collect large subtrees (at scale
  // 1: seven teams contain more than 100 teams, the largest over 300; nesting up to ~11 deep).
  const teamParent = new Int32Array(nTeams).fill(-1);
  const teamChildren: number[][] = Array.from({ length: nTeams }, () => []);
  for (let t = nRoots; t < nTeams; t++) {
    teamParent[t] = Math.floor(rng.next() ** 1.5 * t);
    teamChildren[teamParent[t]].push(t);
  }
  const teamUsers: number[][] = Array.from({ length: nTeams }, () => []);
  for (let u = 0; u < nUsers; u++) {
    for (const t of rng.distinct(rng.count(2), nTeams)) teamUsers[t].push(u);
  }

  const orgGrants: Grants[] = [];
  for (let o = 0; o < nOrgs; o++) {
    const g = new Grants();
    for (const u of rng.distinct(3, nUsers)) g.add(3, false, u);
    for (const t of rng.distinct(rng.count(0.5), nTeams)) g.add(3, true, t);
    for (const u of rng.distinct(60, nUsers)) g.add(1, false, u);
    for (const t of rng.distinct(3, nTeams)) g.add(1, true, t);
    orgGrants.push(g);
  }

  const repoOrg = new Int32Array(nRepos);
  const repoGrantStart = new Int32Array(nRepos + 1);
  const repoGrants = new Grants();
  const perRepo: Array<[level: number, team: boolean, mean: number]> = [
    [1, false, 1.25],
    [1, true, 0.25],
    [2, false, 0.6],
    [2, true, 0.15],
    [3, false, 0.4],
    [3, true, 0.1],
  ];
  for (let r = 0; r < nRepos; r++) {
    repoOrg[r] = rng.int(nOrgs);
    repoGrantStart[r] = repoGrants.id.length;
    for (const [level, team, mean] of perRepo) {
      for (const id of rng.distinct(rng.count(mean), team ? nTeams : nUsers)) repoGrants.add(level, team, id);
    }
  }
  repoGrantStart[nRepos] = repoGrants.id.length;

  // Transitive sizes, for the notes: children have higher indices than their parents.
  const subtree = new Int32Array(nTeams).fill(1);
  for (let t = nTeams - 1; t >= nRoots; t--) subtree[teamParent[t]] += subtree[t];
  const sortedSubtrees = [...subtree].sort((a, b) => b - a);
  const teamDepth = new Int32Array(nTeams);
  for (let t = nRoots; t < nTeams; t++) teamDepth[t] = teamDepth[teamParent[t]] + 1;

  const userId = (u: number) => `u${u}`;
  const teamId = (t: number) => `t${t}`;
  const grantSubject = (g: Grant) => (g.team ? subject('team', teamId(g.id), 'member') : subject('user', userId(g.id)));

  function* each(): Iterable<Relationship> {
    for (let t = 0; t < nTeams; t++) {
      for (const u of teamUsers[t]) yield rel(obj('team', teamId(t)), 'member', subject('user', userId(u)));
    }
    for (let t = nRoots; t < nTeams; t++) {
      yield rel(obj('team', teamId(teamParent[t])), 'member', subject('team', teamId(t), 'member'));
    }
    for (let o = 0; o < nOrgs; o++) {
      const g = orgGrants[o];
      for (let i = 0; i < g.id.length; i++) {
        yield rel(obj('organization', `o${o}`), g.level[i] === 3 ? 'admin' : 'member', grantSubject(g.at(i)));
      }
    }
    for (let r = 0; r < nRepos; r++) {
      yield rel(obj('repository', `r${r}`), 'org', subject('organization', `o${repoOrg[r]}`));
      for (let i = repoGrantStart[r]; i < repoGrantStart[r + 1]; i++) {
        const g = repoGrants.at(i);
        yield rel(obj('repository', `r${r}`), RELATION_OF_LEVEL[g.level], grantSubject(g));
      }
    }
  }

  const pickLevel = (rng: Rng) => {
    const x = rng.next();
    return x < 0.7 ? 1 : x < 0.9 ? 2 : 3;
  };

  /** A user reachable through `team`: walk down a random path of sub-teams, then pick a direct member. */
  const userUnder = (rng: Rng, team: number): number | undefined => {
    let t = team;
    while (teamChildren[t].length && rng.chance(0.6)) t = rng.pick(teamChildren[t]);
    return teamUsers[t].length ? rng.pick(teamUsers[t]) : undefined;
  };

  const randomCheck = (rng: Rng, level: number): CheckQuery => ({
    resource: obj('repository', `r${rng.int(nRepos)}`),
    permission: PERMISSION_OF_LEVEL[level],
    subject: subject('user', userId(rng.int(nUsers))),
  });

  return {
    name: scale === 1 ? 'github' : `github-x${scale}`,
    title: `GitHub-like (scale ${scale})`,
    schema: SCHEMA,
    sizes: { users: nUsers, teams: nTeams, organizations: nOrgs, repositories: nRepos },
    notes: [
      `${nRoots} root teams; the largest team contains ${sortedSubtrees[0] - 1} teams transitively, ` +
        `${sortedSubtrees.filter((n) => n > 101).length} contain more than 100; teams nest up to ${Math.max(...teamDepth) + 1} deep`,
      'each user in ~2 teams; each org: 3 admin users, ~0.5 admin teams, 60 member users, 3 member teams',
      'per repo: ~1.25 reader users, 0.25 reader teams, 0.6/0.15 writer users/teams, 0.4/0.1 admin users/teams',
      'checks ask read (70%), write (20%) or manage (10%) on a repository for a user',
    ],
    relationships: () => chunk(each()),
    sampleCheck(rng: Rng, mix: CheckMix): CheckQuery {
      const level = pickLevel(rng);
      if (mix === 'negative' || rng.chance(0.2)) return randomCheck(rng, level);
      // Positive: follow one grant that is strong enough, on the repo or on its org.
      const r = rng.int(nRepos);
      const candidates: Grant[] = [];
      for (let i = repoGrantStart[r]; i < repoGrantStart[r + 1]; i++)
        if (repoGrants.level[i] >= level) candidates.push(repoGrants.at(i));
      const og = orgGrants[repoOrg[r]];
      for (let i = 0; i < og.id.length; i++) if (og.level[i] >= level) candidates.push(og.at(i));
      const g = rng.pick(candidates);
      const u = g.team ? userUnder(rng, g.id) : g.id;
      if (u === undefined) return randomCheck(rng, level);
      return {
        resource: obj('repository', `r${r}`),
        permission: PERMISSION_OF_LEVEL[level],
        subject: subject('user', userId(u)),
      };
    },
    sampleLookupResources: (rng) => ({
      resourceType: 'repository',
      permission: 'read',
      subject: subject('user', userId(rng.int(nUsers))),
    }),
    sampleLookupSubjects: (rng) => ({
      resource: obj('repository', `r${rng.int(nRepos)}`),
      permission: 'read',
      subjectType: 'user',
    }),
    sampleWrite: (rng) =>
      rel(obj('repository', `r${rng.int(nRepos)}`), 'reader', subject('user', userId(rng.int(nUsers)))),
  };
}

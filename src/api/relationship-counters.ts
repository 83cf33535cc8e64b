/**
 * ExperimentalService's relationship counters: RegisterRelationshipCounter names a relationship
 * filter, CountRelationships counts the relationships matching it at the newest revision,
 * UnregisterRelationshipCounter forgets it — with SpiceDB's errors (`name must be provided`;
 * FAILED_PRECONDITION `counter with name `x` already registered` / `… not found`, reasons
 * ERROR_REASON_COUNTER_ALREADY_REGISTERED / ERROR_REASON_COUNTER_NOT_REGISTERED).
 *
 * Storage: the registry is kept in memory, one per Pemba instance (shared by every transport over
 * it), not in the datastore — so it does not survive a restart and is not shared between nodes of
 * a cluster. A count is computed when asked, by paging through the matching relationships of one
 * snapshot (SpiceDB's in-memory datastore counts the same way; it never answers
 * `counter_still_calculating`).
 */
import { v1 } from '@authzed/authzed-node';
import type { Pemba } from '../pemba.js';
import { keyOf } from '../datastore/datastore.js';
import type { RelationshipKey } from '../datastore/datastore.js';
import { encodeToken } from '../consistency/zedtoken.js';
import { failedPrecondition, invalidArgument } from '../errors/index.js';
import type { ErrorReason } from '../errors/index.js';
import type { RelationshipFilter } from '../relationships/relationship.js';
import { filterToQuery, validateFilterAgainstSchema } from '../relationships/relationship-filter.js';
import { relationshipFilter, zedToken } from './convert.js';
import type { CallContext } from './method.js';
import { unary } from './method.js';
import type { MethodHandler } from './method.js';
import { schemaAt } from './schema-at.js';

interface Counter {
  filter: RelationshipFilter;
  /** As registered, for the metadata of an `already registered` error. */
  apiFilter: v1.RelationshipFilter;
}

const registries = new WeakMap<Pemba, Map<string, Counter>>();

function registryOf(pemba: Pemba): Map<string, Counter> {
  let r = registries.get(pemba);
  if (!r) registries.set(pemba, (r = new Map()));
  return r;
}

/** Relationships read per page while counting. */
const PAGE = 1000;

export function relationshipCounterHandlers(pemba: Pemba): Record<string, MethodHandler> {
  const counters = registryOf(pemba);
  return {
    ExperimentalRegisterRelationshipCounter: unary(
      v1.ExperimentalRegisterRelationshipCounterRequest,
      async (req): Promise<v1.ExperimentalRegisterRelationshipCounterResponse> => {
        requireName(req.name);
        const apiFilter = req.relationshipFilter!;
        const filter = relationshipFilter(apiFilter);
        // Validated against the newest schema, as SpiceDB does in its registering transaction.
        const { schema } = await schemaAt(pemba, { mode: 'fully_consistent' });
        validateFilterAgainstSchema(schema, filter);
        filterToQuery(filter);
        if (counters.has(req.name)) throw alreadyRegistered(req.name, apiFilter);
        counters.set(req.name, { filter, apiFilter });
        return {};
      },
    ),

    ExperimentalCountRelationships: unary(
      v1.ExperimentalCountRelationshipsRequest,
      async (req, ctx): Promise<v1.ExperimentalCountRelationshipsResponse> => {
        requireName(req.name);
        const counter = counters.get(req.name);
        if (!counter) throw notRegistered(req.name);
        const { count, token } = await countAtHead(pemba, counter.filter, ctx);
        return {
          counterResult: {
            oneofKind: 'readCounterValue',
            readCounterValue: { relationshipCount: String(count), readAt: zedToken(token) },
          },
        };
      },
    ),

    ExperimentalUnregisterRelationshipCounter: unary(
      v1.ExperimentalUnregisterRelationshipCounterRequest,
      async (req): Promise<v1.ExperimentalUnregisterRelationshipCounterResponse> => {
        requireName(req.name);
        if (!counters.delete(req.name)) throw notRegistered(req.name);
        return {};
      },
    ),
  };
}

/** The relationships matching `filter` at the newest revision, counted page by page. */
async function countAtHead(
  pemba: Pemba,
  filter: RelationshipFilter,
  ctx: CallContext,
): Promise<{ count: number; token: string }> {
  const { datastore } = pemba;
  const revision = await datastore.headRevision();
  const snapshot = datastore.snapshot(revision, { primary: true });
  const query = filterToQuery(filter);
  let count = 0;
  let after: RelationshipKey | undefined;
  for (;;) {
    ctx.signal.throwIfAborted();
    const page = await snapshot.queryRelationships(query, { limit: PAGE, after });
    count += page.length;
    if (page.length < PAGE) break;
    after = keyOf(page[page.length - 1]);
  }
  return { count, token: encodeToken(datastore.id, revision) };
}

function requireName(name: string): void {
  if (!name) throw invalidArgument('name must be provided', 'ERROR_REASON_UNSPECIFIED' as ErrorReason);
}

// The two counter reasons are newer than Pemba's ErrorReason list; ErrorInfo carries them as text.
function alreadyRegistered(name: string, f: v1.RelationshipFilter) {
  const s = f.optionalSubjectFilter;
  return failedPrecondition(
    `counter with name \`${name}\` already registered`,
    'ERROR_REASON_COUNTER_ALREADY_REGISTERED' as ErrorReason,
    {
      counter_name: name,
      new_filter_resource_type: f.resourceType,
      new_filter_resource_id: f.optionalResourceId,
      new_filter_resource_id_prefix: f.optionalResourceIdPrefix,
      new_filter_relation: f.optionalRelation,
      new_filter_subject_type: s?.subjectType ?? '',
      new_filter_subject_id: s?.optionalSubjectId ?? '',
      new_filter_subject_relation: s?.optionalRelation?.relation ?? '',
    },
  );
}

const notRegistered = (name: string) =>
  failedPrecondition(`counter with name \`${name}\` not found`, 'ERROR_REASON_COUNTER_NOT_REGISTERED' as ErrorReason, {
    counter_name: name,
  });

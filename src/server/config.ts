/**
 * `pemba serve` configuration: SpiceDB's flag names (so scripts carry over), each also readable
 * from `PEMBA_<FLAG_NAME>` (e.g. PEMBA_GRPC_PRESHARED_KEY) or, as SpiceDB reads it,
 * `SPICEDB_<FLAG_NAME>` (PEMBA_ wins when both are set; see src/cli/env.ts). The flag table is
 * data, so the CLI, its help text and the tests share one definition.
 */
import { totalmem } from 'node:os';
import { DEFAULT_LIMITS } from '../api/limits.js';
import { DEFAULT_MAX_EXPAND_SIZE } from '../engine/expand.js';
import { DATASTORE_ENGINES, DEFAULT_SQLITE_PATH } from '../datastore/factory.js';
import type { ApiLimits } from '../api/limits.js';
import { MISMATCHED_TOKEN_BEHAVIORS } from '../consistency/consistency.js';
import type { MismatchedTokenBehavior } from '../consistency/consistency.js';
import { LOG_LEVELS } from './logger.js';
import type { LogFormat, LogLevel } from './logger.js';
import { parseUpstreams } from '../cluster/upstreams.js';
import type { Upstream } from '../cluster/upstreams.js';

export interface ListenAddress {
  /** Empty: every interface. */
  host: string;
  port: number;
}

/** A unix socket to listen on (`--grpc-network unix`: `--grpc-addr` is then its path). */
export interface UnixSocketAddress {
  path: string;
}

/** One PostgreSQL connection pool's settings (SpiceDB's --datastore-conn-pool-{read,write}-*). */
export interface ConnPoolSettings {
  /** Most connections open at once. */
  maxOpen: number;
  /** Connections opened at start and kept open when idle. */
  minOpen: number;
  /** How long an idle connection (above minOpen) stays open, in ms. */
  maxIdleMs: number;
  /** How long a connection lives before it is replaced, in ms (0: forever). */
  maxLifetimeMs: number;
}

/** --datastore-bootstrap-*: validation files loaded into the datastore at start. */
export interface BootstrapConfig {
  files: string[];
  /** Replace whatever the datastore holds; without it, a datastore that has a schema refuses the start. */
  overwrite: boolean;
  /** Longest the load may take, in ms (0: no limit). */
  timeoutMs: number;
}

export interface TlsPaths {
  certPath: string;
  keyPath: string;
}

export interface ServeConfig {
  /** A TCP address, or a socket path with --grpc-network unix. */
  grpcAddr: ListenAddress | UnixSocketAddress;
  presharedKeys: string[];
  grpcTls?: TlsPaths;
  /** Largest gRPC message (and HTTP body) accepted, in bytes. */
  maxMessageBytes: number;
  httpEnabled: boolean;
  httpAddr: ListenAddress;
  httpTls?: TlsPaths;
  /** The origins the HTTP gateway answers cross-origin requests from (absent: CORS off). */
  httpCorsAllowedOrigins?: string[];
  /** Serve the built playground at /playground on the HTTP gateway (when it was built). */
  httpPlaygroundEnabled: boolean;
  datastoreEngine: string;
  datastoreConnUri?: string;
  /** How long a superseded revision stays readable, in ms (SpiceDB's --datastore-gc-window). */
  datastoreGcWindowMs: number;
  /** Width of the window minimize_latency reads share, in ms (0: always the newest revision). */
  datastoreQuantizationMs: number;
  /** How often garbage collection runs, in ms (0: never; also 0 when read-only). */
  datastoreGcIntervalMs: number;
  /** Every write fails with UNAVAILABLE (ERROR_REASON_SERVICE_READ_ONLY); reads work. */
  datastoreReadOnly: boolean;
  /** Validation files loaded at start (absent: none). */
  bootstrap?: BootstrapConfig;
  /** postgres: the pool reads use and the writer's (commits and garbage collection). */
  datastorePools: { read: ConnPoolSettings; write: ConnPoolSettings };
  /** Budget of the cross-request answer cache in bytes (0: off). */
  dispatchCacheBytes: number;
  /** Maintain the nested-group (Leopard) index and answer from it. */
  nestedGroupIndex: boolean;
  /** Memory budget of the nested-group index in bytes; a relation past it is evaluated normally. */
  nestedGroupIndexBytes: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** Longest a call may run, in ms (0: no limit); Watch streams are exempt. */
  requestTimeoutMs: number;
  /** Largest ExpandPermissionTree answer, in tree nodes plus the subjects their leaves list. */
  maxExpandSize: number;
  /** How long shutdown waits for in-flight calls before cutting them off, in ms. */
  shutdownGracePeriodMs: number;
  /** Longest an ImportBulk may wait for its next message while it holds the write lock, in ms (0: no limit). */
  importIdleTimeoutMs: number;
  /** Longest one ImportBulk may hold the write lock, in ms (0: no limit). */
  importMaxLockHoldMs: number;
  limits: ApiLimits;
  /** What a read with a consistency token from another datastore does (SpiceDB's --mismatch-zed-token-behavior). */
  mismatchedTokens: MismatchedTokenBehavior;
  /** Send the server version to callers that ask for it (io.spicedb.requestversion). */
  versionResponse: boolean;
  /** PostgreSQL read replicas (reads at revisions they have applied go there). */
  readReplicaUris: string[];
  /** sqlite and postgres: answer snapshot reads from a node-local mirror of the relationships. */
  datastoreMirror: boolean;
  /** The mirror's memory budget in bytes; past it, reads go to the datastore. */
  datastoreMirrorBytes: number;
  /** Dispatching sub-problems to the nodes that own them (absent: this node evaluates everything). */
  dispatch?: DispatchClusterConfig;
  /** Prometheus metrics at /metrics on this address (absent: off). */
  metricsAddr?: ListenAddress;
  otel: OtelConfig;
  /** OpenFGA's HTTP API on its own port (absent: off). */
  openfga?: OpenFgaServeConfig;
}

/** --openfga-*: OpenFGA's HTTP API, served on the same datastore and engine. */
export interface OpenFgaServeConfig {
  addr: ListenAddress;
  tls?: TlsPaths;
  limits: {
    /** ListObjects' result cap (0: none). */
    listObjectsMaxResults: number;
    /** ListObjects' deadline in ms (0: none). */
    listObjectsDeadlineMs: number;
    /** ListUsers' result cap (0: none). */
    listUsersMaxResults: number;
    /** ListUsers' deadline in ms (0: none). */
    listUsersDeadlineMs: number;
  };
}

export interface DispatchClusterConfig {
  /** Where this node serves the dispatch port. */
  addr: ListenAddress;
  /** The fleet's nodes' dispatch addresses (this node's included), or DNS names that resolve to them. */
  upstreams: Upstream[];
  /** The secret every node of the fleet shares for the dispatch port. */
  secret: string;
  /** How long a remote owner may take before a local evaluation is raced against it, in ms. */
  hedgeDelayMs: number;
  /** Longest one remote dispatch may take, in ms. */
  timeoutMs: number;
}

export interface OtelConfig {
  provider: 'none' | 'otlphttp' | 'otlpgrpc';
  endpoint?: string;
  sampleRatio: number;
}

export interface FlagSpec {
  /** Long flag name without dashes; the env vars are PEMBA_ and SPICEDB_ + its upper snake case. */
  name: string;
  /** Commander argument syntax: `<value>` (required) or `[value]` (optional, for booleans). */
  arg: string;
  description: string;
  default?: string;
  repeatable?: boolean;
}

/** SpiceDB's --grpc-network values Pemba serves (SpiceDB's unixpacket is refused: Node.js has no SOCK_SEQPACKET). */
export const GRPC_NETWORKS = ['tcp', 'tcp4', 'tcp6', 'unix'] as const;

export const envName = (flag: string) => `PEMBA_${flag.toUpperCase().replace(/-/g, '_')}`;
/** SpiceDB's name for a flag's environment variable, read when PEMBA_'s is not set. */
export const spicedbEnvName = (flag: string) => `SPICEDB_${flag.toUpperCase().replace(/-/g, '_')}`;

/** `--<prefix>-enabled`, `-addr` and `-tls-*`: an HTTP/JSON gateway port (serve's, serve-testing's two). */
export function httpFlags(prefix: string, what: string, addr: string): FlagSpec[] {
  return [
    { name: `${prefix}-enabled`, arg: '[bool]', description: `serve ${what}`, default: 'false' },
    { name: `${prefix}-addr`, arg: '<addr>', description: `address to serve ${what} on`, default: addr },
    {
      name: `${prefix}-tls-cert-path`,
      arg: '<path>',
      description: `TLS certificate for ${what} (with --${prefix}-tls-key-path)`,
    },
    { name: `${prefix}-tls-key-path`, arg: '<path>', description: `TLS private key for ${what}` },
  ];
}

export const REQUEST_TIMEOUT_FLAG: FlagSpec = {
  name: 'request-timeout',
  arg: '<duration>',
  description: 'longest a call may run (0 for no limit; Watch and bulk import/export are exempt)',
  default: '30s',
};

/** SpiceDB's per-call API limits (a --max-caveat-context-size of 0 or less means no limit, as in SpiceDB). */
export function apiLimitFlags(): FlagSpec[] {
  return [
    {
      name: 'max-read-relationships-limit',
      arg: '<n>',
      description: 'largest optional_limit accepted by ReadRelationships',
      default: String(DEFAULT_LIMITS.maxReadRelationshipsLimit),
    },
    {
      name: 'max-lookup-resources-limit',
      arg: '<n>',
      description: 'largest optional_limit accepted by LookupResources',
      default: String(DEFAULT_LIMITS.maxLookupResourcesLimit),
    },
    {
      name: 'max-delete-relationships-limit',
      arg: '<n>',
      description: 'largest optional_limit accepted by DeleteRelationships',
      default: String(DEFAULT_LIMITS.maxDeleteRelationshipsLimit),
    },
    {
      name: 'max-bulk-export-relationships-limit',
      arg: '<n>',
      description: 'largest page size accepted by ExportBulkRelationships',
      default: String(DEFAULT_LIMITS.maxBulkExportRelationshipsLimit),
    },
    {
      name: 'write-relationships-max-updates-per-call',
      arg: '<n>',
      description: 'most updates one WriteRelationships may carry',
      default: String(DEFAULT_LIMITS.maxUpdatesPerWrite),
    },
    {
      name: 'update-relationships-max-preconditions-per-call',
      arg: '<n>',
      description: 'most preconditions one WriteRelationships or DeleteRelationships may carry',
      default: String(DEFAULT_LIMITS.maxPreconditionsPerCall),
    },
    {
      name: 'max-caveat-context-size',
      arg: '<bytes>',
      description: `largest caveat context (encoded) a CheckPermission, CheckBulkPermissions or LookupSubjects may send (0 or less: no limit)`,
      default: String(DEFAULT_LIMITS.maxCaveatContextBytes),
    },
    {
      name: 'max-relationship-context-size',
      arg: '<bytes>',
      description: 'largest caveat (name and context, encoded) a written relationship may carry',
      default: String(DEFAULT_LIMITS.maxRelationshipContextBytes),
    },
  ];
}

export const LOG_FLAGS: FlagSpec[] = [
  {
    name: 'log-level',
    arg: '<level>',
    description: `verbosity of logging (${LOG_LEVELS.join(', ')})`,
    default: 'info',
  },
  {
    name: 'log-format',
    arg: '<format>',
    description: 'format of logs (auto, json, console); auto is console on a terminal, json otherwise',
    default: 'auto',
  },
];

/** OpenFGA's HTTP API (`--openfga-enabled`), on OpenFGA's default port, with OpenFGA's list limits. */
export const OPENFGA_FLAGS: FlagSpec[] = [
  {
    name: 'openfga-enabled',
    arg: '[bool]',
    description:
      "serve OpenFGA's HTTP API (stores, models, tuples, check, list-objects, list-users) on --openfga-http-addr, with the same preshared keys",
    default: 'false',
  },
  { name: 'openfga-http-addr', arg: '<addr>', description: "address to serve OpenFGA's HTTP API on", default: ':8080' },
  {
    name: 'openfga-http-tls-cert-path',
    arg: '<path>',
    description: "TLS certificate for OpenFGA's HTTP API (with --openfga-http-tls-key-path)",
  },
  { name: 'openfga-http-tls-key-path', arg: '<path>', description: "TLS private key for OpenFGA's HTTP API" },
  {
    name: 'openfga-list-objects-max-results',
    arg: '<n>',
    description: 'most objects one OpenFGA ListObjects answers (0: no cap)',
    default: '1000',
  },
  {
    name: 'openfga-list-objects-deadline',
    arg: '<duration>',
    description: 'how long an OpenFGA ListObjects searches before answering with what it found (0: no deadline)',
    default: '3s',
  },
  {
    name: 'openfga-list-users-max-results',
    arg: '<n>',
    description: 'most users one OpenFGA ListUsers answers (0: no cap)',
    default: '1000',
  },
  {
    name: 'openfga-list-users-deadline',
    arg: '<duration>',
    description: 'how long an OpenFGA ListUsers searches before answering with what it found (0: no deadline)',
    default: '3s',
  },
];

const openfgaConfig = (openfga: OpenFgaServeConfig | undefined) => (openfga ? { openfga } : {});

/** The OPENFGA_FLAGS, resolved (undefined unless --openfga-enabled). */
export function resolveOpenFgaConfig(str: FlagValue): OpenFgaServeConfig | undefined {
  if (!parseBool(str('openfga-enabled')!, 'openfga-enabled')) return undefined;
  return {
    addr: parseListenAddress(str('openfga-http-addr')!, 'openfga-http-addr'),
    tls: tlsFlags(str, 'openfga-http'),
    limits: {
      listObjectsMaxResults: nonNegativeInt(
        str('openfga-list-objects-max-results')!,
        'openfga-list-objects-max-results',
      ),
      listObjectsDeadlineMs: parseDuration(str('openfga-list-objects-deadline')!, 'openfga-list-objects-deadline'),
      listUsersMaxResults: nonNegativeInt(str('openfga-list-users-max-results')!, 'openfga-list-users-max-results'),
      listUsersDeadlineMs: parseDuration(str('openfga-list-users-deadline')!, 'openfga-list-users-deadline'),
    },
  };
}

export const SERVE_FLAGS: FlagSpec[] = [
  {
    name: 'grpc-addr',
    arg: '<addr>',
    description: 'address to serve gRPC on ([host]:port; a socket path with --grpc-network unix)',
    default: ':50051',
  },
  {
    name: 'grpc-network',
    arg: '<network>',
    description: `network to serve gRPC on (${GRPC_NETWORKS.join(', ')}; unix: --grpc-addr is a socket path)`,
    default: 'tcp',
  },
  {
    name: 'grpc-preshared-key',
    arg: '<key>',
    description:
      'preshared key(s) clients must send as `Bearer <key>` (required; repeat the flag or separate with commas to accept several during rotation)',
    repeatable: true,
  },
  {
    name: 'grpc-tls-cert-path',
    arg: '<path>',
    description: 'TLS certificate for gRPC (with --grpc-tls-key-path; plaintext without)',
  },
  { name: 'grpc-tls-key-path', arg: '<path>', description: 'TLS private key for gRPC' },
  {
    name: 'grpc-max-message-size',
    arg: '<bytes>',
    description: 'largest request message accepted, in bytes (also the HTTP body limit)',
    default: String(4 * 1024 * 1024),
  },
  {
    name: 'grpc-shutdown-grace-period',
    arg: '<duration>',
    description: 'how long shutdown waits for in-flight calls (e.g. 10s)',
    default: '10s',
  },
  ...httpFlags('http', 'the HTTP/JSON gateway', ':8443'),
  {
    name: 'http-playground-enabled',
    arg: '[bool]',
    description:
      'serve the playground (a schema and relationship editor running the engine in the browser) at /playground on the HTTP gateway',
    default: 'true',
  },
  {
    name: 'http-cors-enabled',
    arg: '[bool]',
    description:
      'answer cross-origin (CORS) requests to the HTTP gateway from --http-cors-allowed-origins, credentials allowed (browsers may then call it with a key)',
    default: 'false',
  },
  {
    name: 'http-cors-allowed-origins',
    arg: '<origins>',
    description:
      'origins CORS allows, with --http-cors-enabled: * for all, or a comma-separated list (one * wildcard each, e.g. https://*.example.com)',
    default: '*',
    repeatable: true,
  },
  ...OPENFGA_FLAGS,
  {
    name: 'datastore-engine',
    arg: '<engine>',
    description: `datastore to use (${DATASTORE_ENGINES.join(', ')}; memory forgets everything on exit)`,
    default: 'sqlite',
  },
  {
    name: 'datastore-conn-uri',
    arg: '<uri>',
    description: `sqlite: a file path (default ${DEFAULT_SQLITE_PATH}); postgres: a postgres:// URI (migrate it first with \`pemba datastore migrate\`)`,
  },
  {
    name: 'datastore-gc-window',
    arg: '<duration>',
    description:
      'how long superseded revisions stay readable (at_exact_snapshot, Watch resume) before garbage collection (e.g. 24h, 30m)',
    default: '24h',
  },
  {
    name: 'datastore-revision-quantization-interval',
    arg: '<duration>',
    description:
      'minimize_latency reads share the revision current at the start of each window this long (0: always the newest)',
    default: '5s',
  },
  {
    name: 'datastore-gc-interval',
    arg: '<duration>',
    description: 'how often garbage collection runs (0: never; `pemba datastore gc` runs it once)',
    default: '3m',
  },
  {
    name: 'datastore-readonly',
    arg: '[bool]',
    description:
      'serve reads only: every write (WriteRelationships, DeleteRelationships, WriteSchema, ImportBulkRelationships) fails with UNAVAILABLE "service read-only"; garbage collection is off',
    default: 'false',
  },
  {
    name: 'datastore-bootstrap-files',
    arg: '<files>',
    description:
      "validation files (zed's YAML) whose schema and relationships are written at start, when the datastore has no schema (repeat the flag or separate with commas)",
    repeatable: true,
  },
  {
    name: 'datastore-bootstrap-overwrite',
    arg: '[bool]',
    description:
      'with --datastore-bootstrap-files: delete every relationship the datastore holds and replace its schema, instead of refusing to start when it has one',
    default: 'false',
  },
  {
    name: 'datastore-bootstrap-timeout',
    arg: '<duration>',
    description: 'longest the bootstrap load may take before the start fails (0: no limit)',
    default: '10s',
  },
  ...connPoolFlags('read', 'snapshot reads, revision checks and Watch', 20),
  ...connPoolFlags('write', 'the writer (commits) and garbage collection', 10),
  {
    name: 'datastore-read-replica-conn-uri',
    arg: '<uri>',
    description:
      'a PostgreSQL read replica (repeat for several): reads at revisions it has applied go there, everything else to the primary',
    repeatable: true,
  },
  {
    name: 'datastore-mirror-enabled',
    arg: '[bool]',
    description:
      'sqlite and postgres: keep a copy of the relationships in memory, following the change feed, and answer reads from it (exact at every revision it holds; others read the datastore)',
    default: 'true',
  },
  {
    name: 'datastore-mirror-max-bytes',
    arg: '<size>',
    description:
      "memory budget of the relationship mirror (e.g. 1GiB, 512MiB, 10%); when the relationships don't fit, reads go to the datastore (logged)",
    default: '1GiB',
  },
  {
    name: 'dispatch-cluster-enabled',
    arg: '[bool]',
    description:
      'serve the dispatch port and send each sub-problem to the node that owns it on a consistent-hash ring over --dispatch-upstream-addr',
    default: 'false',
  },
  {
    name: 'dispatch-cluster-addr',
    arg: '<addr>',
    description: 'address to serve the dispatch port on (other nodes send sub-problems here)',
    default: ':50053',
  },
  {
    name: 'dispatch-upstream-addr',
    arg: '<addrs>',
    description:
      "the fleet's dispatch addresses, this node's included: a comma-separated list of host:port, or a DNS name that resolves to every node (resolved again every second)",
  },
  {
    name: 'dispatch-cluster-preshared-key',
    arg: '<key>',
    description: 'secret the nodes of a fleet share on the dispatch port (default: the first --grpc-preshared-key)',
  },
  {
    name: 'dispatch-hedging-delay',
    arg: '<duration>',
    description:
      'how long a remote owner may take before it is checked for life; one that stays silent for four more delays gets the sub-problem evaluated here too',
    default: '50ms',
  },
  {
    name: 'dispatch-upstream-timeout',
    arg: '<duration>',
    description: 'longest one remote dispatch may take before the sub-problem is evaluated here',
    default: '10s',
  },
  {
    name: 'metrics-enabled',
    arg: '[bool]',
    description: 'serve Prometheus metrics at /metrics on --metrics-addr',
    default: 'false',
  },
  { name: 'metrics-addr', arg: '<addr>', description: 'address to serve /metrics on', default: ':9090' },
  {
    name: 'otel-provider',
    arg: '<provider>',
    description: 'where to send OpenTelemetry traces: none, otlphttp or otlpgrpc',
    default: 'none',
  },
  {
    name: 'otel-endpoint',
    arg: '<url>',
    description: 'the OTLP collector (e.g. http://127.0.0.1:4318 for otlphttp, http://127.0.0.1:4317 for otlpgrpc)',
  },
  {
    name: 'otel-sample-ratio',
    arg: '<ratio>',
    description: 'share of requests traced (0 to 1; a request whose caller sampled it is always traced)',
    default: '0.01',
  },
  {
    name: 'dispatch-cache-enabled',
    arg: '[bool]',
    description: 'cache answers to sub-problems across requests, keyed by revision',
    default: 'true',
  },
  {
    name: 'dispatch-cache-max-cost',
    arg: '<size>',
    description:
      'memory budget of the dispatch cache: bytes (e.g. 64MiB, 1GiB) or a percentage of system memory (e.g. 5%)',
    default: '64MiB',
  },
  {
    name: 'nested-group-index-enabled',
    arg: '[bool]',
    description:
      'maintain the nested-group (Leopard) index from the change feed and answer nested-group membership from it',
    default: 'true',
  },
  {
    name: 'nested-group-index-max-bytes',
    arg: '<size>',
    description:
      'memory budget of the nested-group index (e.g. 128MiB, 1GiB, 5%); a relation whose nesting edges exceed it is no longer indexed and is evaluated normally (logged)',
    default: '128MiB',
  },
  REQUEST_TIMEOUT_FLAG,
  {
    name: 'watch-api-heartbeat',
    arg: '<duration>',
    description:
      'how often a Watch that asked for checkpoints (WATCH_KIND_INCLUDE_CHECKPOINTS) gets one while no commits come; 0 (or anything under 100ms) means 100ms',
    default: '1s',
  },
  {
    name: 'import-idle-timeout',
    arg: '<duration>',
    description:
      'an ImportBulkRelationships stream that sends nothing for this long fails and writes nothing (it holds the write lock, so other writes wait behind it; 0 for no limit)',
    default: '30s',
  },
  {
    name: 'import-max-lock-hold',
    arg: '<duration>',
    description:
      'longest one ImportBulkRelationships may hold the write lock before it fails and writes nothing (0 for no limit)',
    default: '5m',
  },
  ...apiLimitFlags(),
  {
    name: 'mismatch-zed-token-behavior',
    arg: '<behavior>',
    description: `what a read with a consistency token another datastore issued does (${MISMATCHED_TOKEN_BEHAVIORS.join(', ')}): read at the head, at the shared recent revision, or fail with INVALID_ARGUMENT`,
    default: 'full-consistency',
  },
  {
    name: 'enable-version-response',
    arg: '[bool]',
    description: 'send the server version (io.spicedb.debug.version) to callers that ask for it, as zed version does',
    default: 'true',
  },
  {
    name: 'max-expand-tree-size',
    arg: '<n>',
    description:
      'largest ExpandPermissionTree answer, in tree nodes plus the subjects their leaves list (a subtree counted wherever it appears); past it the call fails with RESOURCE_EXHAUSTED',
    default: String(DEFAULT_MAX_EXPAND_SIZE),
  },
  ...LOG_FLAGS,
];

/** SpiceDB's --datastore-conn-pool-{read,write}-* flags (postgres). */
function connPoolFlags(pool: 'read' | 'write', what: string, maxOpen: number): FlagSpec[] {
  const prefix = `datastore-conn-pool-${pool}`;
  return [
    {
      name: `${prefix}-max-open`,
      arg: '<n>',
      description: `postgres: most connections open at once for ${what}`,
      default: String(maxOpen),
    },
    {
      name: `${prefix}-min-open`,
      arg: '<n>',
      description: `postgres: connections for ${what} opened at start and kept open when idle (SpiceDB's default is --${prefix}-max-open)`,
      default: '0',
    },
    {
      name: `${prefix}-max-idletime`,
      arg: '<duration>',
      description: `postgres: how long a connection for ${what} may stay idle (above --${prefix}-min-open) before it is closed`,
      default: '30m',
    },
    {
      name: `${prefix}-max-lifetime`,
      arg: '<duration>',
      description: `postgres: how long a connection for ${what} lives before it is closed (once idle) and replaced (0: forever)`,
      default: '30m',
    },
  ];
}

/** Raw values as commander hands them over: camelCased flag names → string, string[] or boolean. */
export type RawFlags = Record<string, string | string[] | boolean | undefined>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** A flag's value by name: the one given (the last, when repeated), else its default. */
export type FlagValue = (flag: string) => string | undefined;

/**
 * Reads commander's values by flag name, with the defaults of `flags`: `str` (see FlagValue) and
 * `list`, a repeatable flag's values split at commas (its default when none is given).
 */
export function flagReader(
  raw: RawFlags,
  flags: readonly FlagSpec[],
): { str: FlagValue; list(flag: string): string[] } {
  const defaultOf = (flag: string) => flags.find((f) => f.name === flag)?.default;
  return {
    str: (flag) => {
      const v = raw[camel(flag)];
      if (Array.isArray(v)) return v[v.length - 1];
      return typeof v === 'boolean' ? String(v) : v === undefined || v === '' ? defaultOf(flag) : v;
    },
    list: (flag) => {
      const v = raw[camel(flag)];
      const values = Array.isArray(v) ? v : typeof v === 'string' && v !== '' ? [v] : [defaultOf(flag) ?? ''];
      return values
        .flatMap((s) => s.split(','))
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
    },
  };
}

/** LOG_FLAGS: --log-format auto is console on a terminal, json otherwise. */
export function resolveLogFlags(str: FlagValue, isTty: boolean): { logLevel: LogLevel; logFormat: LogFormat } {
  const logLevel = str('log-level')!;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, not "${logLevel}"`);
  }
  const format = str('log-format')!;
  if (!['auto', 'json', 'console'].includes(format))
    throw new ConfigError(`--log-format must be auto, json or console, not "${format}"`);
  return {
    logLevel: logLevel as LogLevel,
    logFormat: format === 'auto' ? (isTty ? 'console' : 'json') : (format as LogFormat),
  };
}

/** The flags of apiLimitFlags(). */
export function resolveApiLimits(str: FlagValue): ApiLimits {
  const int = (flag: string) => positiveInt(str(flag)!, flag);
  const contextSize = (flag: string) => {
    const text = str(flag)!;
    const n = Number(text);
    if (!Number.isInteger(n)) throw new ConfigError(`--${flag} must be an integer, not "${text}"`);
    return n <= 0 ? Number.POSITIVE_INFINITY : n;
  };
  return {
    ...DEFAULT_LIMITS,
    maxReadRelationshipsLimit: int('max-read-relationships-limit'),
    maxLookupResourcesLimit: int('max-lookup-resources-limit'),
    maxDeleteRelationshipsLimit: int('max-delete-relationships-limit'),
    maxBulkExportRelationshipsLimit: int('max-bulk-export-relationships-limit'),
    maxUpdatesPerWrite: int('write-relationships-max-updates-per-call'),
    maxPreconditionsPerCall: int('update-relationships-max-preconditions-per-call'),
    maxCaveatContextBytes: contextSize('max-caveat-context-size'),
    maxRelationshipContextBytes: int('max-relationship-context-size'),
  };
}

/** `--<prefix>-tls-cert-path` and `--<prefix>-tls-key-path`, given together or not at all. */
export function tlsFlags(str: FlagValue, prefix: string): TlsPaths | undefined {
  const certPath = str(`${prefix}-tls-cert-path`);
  const keyPath = str(`${prefix}-tls-key-path`);
  if (!certPath && !keyPath) return undefined;
  if (!certPath || !keyPath)
    throw new ConfigError(`--${prefix}-tls-cert-path and --${prefix}-tls-key-path must be given together`);
  return { certPath, keyPath };
}

export function resolveServeConfig(raw: RawFlags, isTty = false): ServeConfig {
  const { str, list } = flagReader(raw, SERVE_FLAGS);
  const presharedKeys = list('grpc-preshared-key');
  if (presharedKeys.length === 0) {
    throw new ConfigError(
      `a preshared key is required: pass --grpc-preshared-key or set ${envName('grpc-preshared-key')}`,
    );
  }
  const log = resolveLogFlags(str, isTty);
  const gcWindow = parseDuration(str('datastore-gc-window')!, 'datastore-gc-window');
  if (gcWindow <= 0) throw new ConfigError('--datastore-gc-window must be longer than 0');
  const engine = str('datastore-engine')!;
  const readOnly = parseBool(str('datastore-readonly')!, 'datastore-readonly');
  const bootstrapFiles = list('datastore-bootstrap-files');
  const overwrite = parseBool(str('datastore-bootstrap-overwrite')!, 'datastore-bootstrap-overwrite');
  const corsOrigins = list('http-cors-allowed-origins');
  if (parseBool(str('http-cors-enabled')!, 'http-cors-enabled') && corsOrigins.length === 0) {
    throw new ConfigError('--http-cors-enabled needs at least one origin in --http-cors-allowed-origins (* for all)');
  }
  const pool = (name: 'read' | 'write'): ConnPoolSettings => {
    const flag = (suffix: string) => `datastore-conn-pool-${name}-${suffix}`;
    const settings = {
      maxOpen: positiveInt(str(flag('max-open'))!, flag('max-open')),
      minOpen: nonNegativeInt(str(flag('min-open'))!, flag('min-open')),
      maxIdleMs: parseDuration(str(flag('max-idletime'))!, flag('max-idletime')),
      maxLifetimeMs: parseDuration(str(flag('max-lifetime'))!, flag('max-lifetime')),
    };
    if (settings.minOpen > settings.maxOpen) {
      throw new ConfigError(
        `--${flag('min-open')} (${settings.minOpen}) must not be more than --${flag('max-open')} (${settings.maxOpen})`,
      );
    }
    return settings;
  };
  const replicasRaw = raw[camel('datastore-read-replica-conn-uri')];
  const readReplicaUris = (
    Array.isArray(replicasRaw) ? replicasRaw : typeof replicasRaw === 'string' ? [replicasRaw] : []
  )
    .map((u) => u.trim())
    .filter((u) => u.length > 0);
  if (readReplicaUris.length > 0 && str('datastore-engine') !== 'postgres') {
    throw new ConfigError('--datastore-read-replica-conn-uri needs --datastore-engine postgres');
  }
  let dispatch: DispatchClusterConfig | undefined;
  if (parseBool(str('dispatch-cluster-enabled')!, 'dispatch-cluster-enabled')) {
    const upstream = str('dispatch-upstream-addr');
    if (!upstream) throw new ConfigError('--dispatch-cluster-enabled needs --dispatch-upstream-addr');
    if (str('datastore-engine') === 'memory') {
      throw new ConfigError('--dispatch-cluster-enabled needs a datastore the nodes share (postgres), not memory');
    }
    let upstreams: Upstream[];
    try {
      upstreams = parseUpstreams(upstream);
    } catch (e) {
      throw new ConfigError((e as Error).message);
    }
    dispatch = {
      addr: parseListenAddress(str('dispatch-cluster-addr')!, 'dispatch-cluster-addr'),
      upstreams,
      secret: str('dispatch-cluster-preshared-key') || presharedKeys[0],
      hedgeDelayMs: parseDuration(str('dispatch-hedging-delay')!, 'dispatch-hedging-delay'),
      timeoutMs: parseDuration(str('dispatch-upstream-timeout')!, 'dispatch-upstream-timeout'),
    };
    if (dispatch.timeoutMs <= 0) throw new ConfigError('--dispatch-upstream-timeout must be longer than 0');
  }
  const provider = str('otel-provider')!;
  if (!['none', 'otlphttp', 'otlpgrpc'].includes(provider)) {
    throw new ConfigError(`--otel-provider must be none, otlphttp or otlpgrpc, not "${provider}"`);
  }
  const sampleRatio = Number(str('otel-sample-ratio'));
  if (!(sampleRatio >= 0 && sampleRatio <= 1)) {
    throw new ConfigError(`--otel-sample-ratio must be a number from 0 to 1, not "${str('otel-sample-ratio')}"`);
  }
  if (provider !== 'none' && !str('otel-endpoint'))
    throw new ConfigError(`--otel-provider ${provider} needs --otel-endpoint`);
  const quantization = parseDuration(
    str('datastore-revision-quantization-interval')!,
    'datastore-revision-quantization-interval',
  );
  return {
    grpcAddr: grpcAddress(str, 'grpc'),
    presharedKeys,
    grpcTls: tlsFlags(str, 'grpc'),
    maxMessageBytes: positiveInt(str('grpc-max-message-size')!, 'grpc-max-message-size'),
    httpEnabled: parseBool(str('http-enabled')!, 'http-enabled'),
    httpAddr: parseListenAddress(str('http-addr')!, 'http-addr'),
    httpTls: tlsFlags(str, 'http'),
    ...(parseBool(str('http-cors-enabled')!, 'http-cors-enabled') ? { httpCorsAllowedOrigins: corsOrigins } : {}),
    httpPlaygroundEnabled: parseBool(str('http-playground-enabled')!, 'http-playground-enabled'),
    datastoreEngine: engine,
    datastoreConnUri: str('datastore-conn-uri'),
    datastoreGcWindowMs: gcWindow,
    datastoreQuantizationMs: quantization,
    // A read-only server never collects (SpiceDB: GC is off with --datastore-readonly).
    datastoreGcIntervalMs: readOnly ? 0 : parseDuration(str('datastore-gc-interval')!, 'datastore-gc-interval'),
    datastoreReadOnly: readOnly,
    ...(bootstrapFiles.length > 0
      ? {
          bootstrap: {
            files: bootstrapFiles,
            overwrite,
            timeoutMs: parseDuration(str('datastore-bootstrap-timeout')!, 'datastore-bootstrap-timeout'),
          },
        }
      : {}),
    datastorePools: { read: pool('read'), write: pool('write') },
    dispatchCacheBytes: parseBool(str('dispatch-cache-enabled')!, 'dispatch-cache-enabled')
      ? parseByteSize(str('dispatch-cache-max-cost')!, 'dispatch-cache-max-cost')
      : 0,
    nestedGroupIndex: parseBool(str('nested-group-index-enabled')!, 'nested-group-index-enabled'),
    nestedGroupIndexBytes: parseByteSize(str('nested-group-index-max-bytes')!, 'nested-group-index-max-bytes'),
    ...log,
    requestTimeoutMs: parseDuration(str('request-timeout')!, 'request-timeout'),
    maxExpandSize: positiveInt(str('max-expand-tree-size')!, 'max-expand-tree-size'),
    shutdownGracePeriodMs: parseDuration(str('grpc-shutdown-grace-period')!, 'grpc-shutdown-grace-period'),
    importIdleTimeoutMs: parseDuration(str('import-idle-timeout')!, 'import-idle-timeout'),
    importMaxLockHoldMs: parseDuration(str('import-max-lock-hold')!, 'import-max-lock-hold'),
    readReplicaUris,
    datastoreMirror: parseBool(str('datastore-mirror-enabled')!, 'datastore-mirror-enabled'),
    datastoreMirrorBytes: parseByteSize(str('datastore-mirror-max-bytes')!, 'datastore-mirror-max-bytes'),
    dispatch,
    metricsAddr: parseBool(str('metrics-enabled')!, 'metrics-enabled')
      ? parseListenAddress(str('metrics-addr')!, 'metrics-addr')
      : undefined,
    otel: { provider: provider as OtelConfig['provider'], endpoint: str('otel-endpoint'), sampleRatio },
    limits: {
      ...resolveApiLimits(str),
      watchHeartbeatMs: parseDuration(str('watch-api-heartbeat')!, 'watch-api-heartbeat'),
    },
    mismatchedTokens: oneOf(
      str('mismatch-zed-token-behavior')!,
      MISMATCHED_TOKEN_BEHAVIORS,
      'mismatch-zed-token-behavior',
    ),
    versionResponse: parseBool(str('enable-version-response')!, 'enable-version-response'),
    ...openfgaConfig(resolveOpenFgaConfig(str)),
  };
}

/**
 * `--<prefix>-addr` read as `--<prefix>-network` says: a socket path for unix; for tcp4 and tcp6 an
 * empty host is that family's every-interface address.
 */
export function grpcAddress(str: FlagValue, prefix: string): ListenAddress | UnixSocketAddress {
  const addr = str(`${prefix}-addr`)!;
  const network = str(`${prefix}-network`)!;
  if (network === 'unixpacket') {
    throw new ConfigError(
      `--${prefix}-network unixpacket is not supported (Node.js has no SOCK_SEQPACKET sockets): use unix (a stream socket)`,
    );
  }
  const networks: readonly string[] = GRPC_NETWORKS;
  if (!networks.includes(network)) {
    throw new ConfigError(`--${prefix}-network must be one of ${GRPC_NETWORKS.join(', ')}, not "${network}"`);
  }
  if (network === 'unix') {
    const path = addr.trim().replace(/^unix:(\/\/)?/, '');
    if (!path) throw new ConfigError(`--${prefix}-network unix needs --${prefix}-addr to be a socket path`);
    return { path };
  }
  const parsed = parseListenAddress(addr, `${prefix}-addr`);
  if (!parsed.host && network !== 'tcp') parsed.host = network === 'tcp4' ? '0.0.0.0' : '::';
  return parsed;
}

/** `:50051`, `localhost:0`, `0.0.0.0:8443`, `[::1]:50051`. */
export function parseListenAddress(addr: string, flag = 'addr'): ListenAddress {
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d{1,5})$/.exec(addr.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ConfigError(`--${flag} must look like [host]:port (e.g. :50051), not "${addr}"`);
  return { host: m[1] ?? m[2] ?? '', port };
}

export function formatListenAddress(a: ListenAddress): string {
  return `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}

/** Go's duration units (time.ParseDuration), in ms, and `d` for days, which SpiceDB's docs use (`1d` = 24h). */
const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3, // U+00B5 micro sign
  μs: 1e-3, // U+03BC Greek mu
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};
const DURATION_TERM = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)/;

/**
 * Durations as SpiceDB's flags take them, Go's syntax (`30s`, `1h30m`, `250ms`, `1.5h`, `90m`,
 * `0`), in ms, plus `d` for days (`1d`, `1d12h`); a bare number is seconds. Negative durations
 * are refused.
 */
export function parseDuration(text: string, flag = 'duration'): number {
  const t = text.trim();
  const invalid = () =>
    new ConfigError(
      `--${flag} must be a duration like 30s, 1h30m, 250ms or 1d (units ns, us, ms, s, m, h, d), not "${text}"`,
    );
  if (t.startsWith('-')) throw new ConfigError(`--${flag} must not be negative, not "${text}"`);
  const body = t.startsWith('+') ? t.slice(1) : t;
  if (/^(\d+(\.\d*)?|\.\d+)$/.test(body)) return Math.round(Number(body) * 1000);
  if (!body) throw invalid();
  let total = 0;
  let rest = body;
  while (rest) {
    const m = DURATION_TERM.exec(rest);
    if (!m) throw invalid();
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    rest = rest.slice(m[0].length);
  }
  if (!Number.isFinite(total) || total > Number.MAX_SAFE_INTEGER) throw invalid();
  return Math.round(total);
}

/** `1048576`, `64MiB`, `512KB`, `1GiB`, or `5%` of this machine's memory. */
export function parseByteSize(text: string, flag = 'size'): number {
  const m = /^(\d+(?:\.\d+)?)\s*(%|b|kb|kib|mb|mib|gb|gib)?$/i.exec(text.trim());
  if (!m) throw new ConfigError(`--${flag} must be a size like 64MiB, 1GiB or 5%, not "${text}"`);
  const n = Number(m[1]);
  const unit = (m[2] ?? 'b').toLowerCase();
  if (unit === '%') {
    if (n > 100) throw new ConfigError(`--${flag} must be at most 100%, not "${text}"`);
    return Math.floor((totalmem() * n) / 100);
  }
  const scale: Record<string, number> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3 };
  return Math.floor(n * scale[unit]);
}

export function parseBool(text: string, flag = 'flag'): boolean {
  const t = text.trim().toLowerCase();
  if (['true', '1', 'yes', 't'].includes(t)) return true;
  if (['false', '0', 'no', 'f', ''].includes(t)) return false;
  throw new ConfigError(`--${flag} must be true or false, not "${text}"`);
}

function oneOf<T extends string>(text: string, choices: readonly T[], flag: string): T {
  if (!(choices as readonly string[]).includes(text))
    throw new ConfigError(`--${flag} must be one of ${choices.join(', ')}, not "${text}"`);
  return text as T;
}

export function nonNegativeInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`--${flag} must be a non-negative integer, not "${text}"`);
  return n;
}

export function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`--${flag} must be a positive integer, not "${text}"`);
  return n;
}

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

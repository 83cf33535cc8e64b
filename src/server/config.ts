/**
 * `pemba serve` configuration: SpiceDB's flag names (so scripts carry over), each also readable
 * from `PEMBA_<FLAG_NAME>` (e.g. PEMBA_GRPC_PRESHARED_KEY). The flag table is data, so the CLI,
 * its help text and the tests share one definition.
 */
import { totalmem } from 'node:os';
import { DEFAULT_LIMITS } from '../api/limits.js';
import { DEFAULT_MAX_EXPAND_SIZE } from '../engine/expand.js';
import { DATASTORE_ENGINES, DEFAULT_SQLITE_PATH } from '../datastore/factory.js';
import type { ApiLimits } from '../api/limits.js';
import { LOG_LEVELS } from './logger.js';
import type { LogFormat, LogLevel } from './logger.js';
import { parseUpstreams } from '../cluster/upstreams.js';
import type { Upstream } from '../cluster/upstreams.js';

export interface ListenAddress {
  /** Empty: every interface. */
  host: string;
  port: number;
}

export interface TlsPaths {
  certPath: string;
  keyPath: string;
}

export interface ServeConfig {
  grpcAddr: ListenAddress;
  presharedKeys: string[];
  grpcTls?: TlsPaths;
  /** Largest gRPC message (and HTTP body) accepted, in bytes. */
  maxMessageBytes: number;
  httpEnabled: boolean;
  httpAddr: ListenAddress;
  httpTls?: TlsPaths;
  datastoreEngine: string;
  datastoreConnUri?: string;
  /** How long a superseded revision stays readable, in ms (SpiceDB's --datastore-gc-window). */
  datastoreGcWindowMs: number;
  /** Width of the window minimize_latency reads share, in ms (0: always the newest revision). */
  datastoreQuantizationMs: number;
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
  /** Long flag name without dashes; the env var is PEMBA_ + its upper snake case. */
  name: string;
  /** Commander argument syntax: `<value>` (required) or `[value]` (optional, for booleans). */
  arg: string;
  description: string;
  default?: string;
  repeatable?: boolean;
}

export const envName = (flag: string) => `PEMBA_${flag.toUpperCase().replace(/-/g, '_')}`;

export const SERVE_FLAGS: FlagSpec[] = [
  { name: 'grpc-addr', arg: '<addr>', description: 'address to serve gRPC on ([host]:port)', default: ':50051' },
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
  { name: 'http-enabled', arg: '[bool]', description: 'serve the HTTP/JSON gateway', default: 'false' },
  { name: 'http-addr', arg: '<addr>', description: 'address to serve the HTTP/JSON gateway on', default: ':8443' },
  {
    name: 'http-tls-cert-path',
    arg: '<path>',
    description: 'TLS certificate for the HTTP gateway (with --http-tls-key-path)',
  },
  { name: 'http-tls-key-path', arg: '<path>', description: 'TLS private key for the HTTP gateway' },
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
  {
    name: 'request-timeout',
    arg: '<duration>',
    description: 'longest a call may run (0 for no limit; Watch and bulk import/export are exempt)',
    default: '30s',
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
    name: 'max-expand-tree-size',
    arg: '<n>',
    description:
      'largest ExpandPermissionTree answer, in tree nodes plus the subjects their leaves list (a subtree counted wherever it appears); past it the call fails with RESOURCE_EXHAUSTED',
    default: String(DEFAULT_MAX_EXPAND_SIZE),
  },
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

/** Raw values as commander hands them over: camelCased flag names → string, string[] or boolean. */
export type RawFlags = Record<string, string | string[] | boolean | undefined>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function resolveServeConfig(raw: RawFlags, isTty = false): ServeConfig {
  const str = (flag: string): string | undefined => {
    const v = raw[camel(flag)];
    if (Array.isArray(v)) return v[v.length - 1];
    return typeof v === 'boolean' ? String(v) : v === undefined || v === '' ? defaultOf(flag) : v;
  };
  const keysRaw = raw[camel('grpc-preshared-key')];
  const presharedKeys = (Array.isArray(keysRaw) ? keysRaw : typeof keysRaw === 'string' ? [keysRaw] : [])
    .flatMap((k) => k.split(','))
    .map((k) => k.trim())
    .filter((k) => k.length > 0);
  if (presharedKeys.length === 0) {
    throw new ConfigError(
      `a preshared key is required: pass --grpc-preshared-key or set ${envName('grpc-preshared-key')}`,
    );
  }
  const logLevel = str('log-level')!;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, not "${logLevel}"`);
  }
  const format = str('log-format')!;
  if (!['auto', 'json', 'console'].includes(format))
    throw new ConfigError(`--log-format must be auto, json or console, not "${format}"`);
  const gcWindow = parseDuration(str('datastore-gc-window')!, 'datastore-gc-window');
  if (gcWindow <= 0) throw new ConfigError('--datastore-gc-window must be longer than 0');
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
    grpcAddr: parseListenAddress(str('grpc-addr')!, 'grpc-addr'),
    presharedKeys,
    grpcTls: tls(str('grpc-tls-cert-path'), str('grpc-tls-key-path'), 'grpc'),
    maxMessageBytes: positiveInt(str('grpc-max-message-size')!, 'grpc-max-message-size'),
    httpEnabled: parseBool(str('http-enabled')!, 'http-enabled'),
    httpAddr: parseListenAddress(str('http-addr')!, 'http-addr'),
    httpTls: tls(str('http-tls-cert-path'), str('http-tls-key-path'), 'http'),
    datastoreEngine: str('datastore-engine')!,
    datastoreConnUri: str('datastore-conn-uri'),
    datastoreGcWindowMs: gcWindow,
    datastoreQuantizationMs: quantization,
    dispatchCacheBytes: parseBool(str('dispatch-cache-enabled')!, 'dispatch-cache-enabled')
      ? parseByteSize(str('dispatch-cache-max-cost')!, 'dispatch-cache-max-cost')
      : 0,
    nestedGroupIndex: parseBool(str('nested-group-index-enabled')!, 'nested-group-index-enabled'),
    nestedGroupIndexBytes: parseByteSize(str('nested-group-index-max-bytes')!, 'nested-group-index-max-bytes'),
    logLevel: logLevel as LogLevel,
    logFormat: format === 'auto' ? (isTty ? 'console' : 'json') : (format as LogFormat),
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
      ...DEFAULT_LIMITS,
      maxReadRelationshipsLimit: positiveInt(str('max-read-relationships-limit')!, 'max-read-relationships-limit'),
      maxLookupResourcesLimit: positiveInt(str('max-lookup-resources-limit')!, 'max-lookup-resources-limit'),
      maxDeleteRelationshipsLimit: positiveInt(
        str('max-delete-relationships-limit')!,
        'max-delete-relationships-limit',
      ),
      maxBulkExportRelationshipsLimit: positiveInt(
        str('max-bulk-export-relationships-limit')!,
        'max-bulk-export-relationships-limit',
      ),
    },
  };
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

/** Go-style durations (`30s`, `1m30s`, `250ms`, `0`), as SpiceDB's flags take them; a bare number is seconds. */
export function parseDuration(text: string, flag = 'duration'): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = t;
  while (rest) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest);
    if (!m) throw new ConfigError(`--${flag} must be a duration like 30s, 1m or 250ms, not "${text}"`);
    total += Number(m[1]) * units[m[2]];
    rest = rest.slice(m[0].length);
  }
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

function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`--${flag} must be a positive integer, not "${text}"`);
  return n;
}

function tls(certPath: string | undefined, keyPath: string | undefined, prefix: string): TlsPaths | undefined {
  if (!certPath && !keyPath) return undefined;
  if (!certPath || !keyPath)
    throw new ConfigError(`--${prefix}-tls-cert-path and --${prefix}-tls-key-path must be given together`);
  return { certPath, keyPath };
}

function defaultOf(flag: string): string | undefined {
  return SERVE_FLAGS.find((f) => f.name === flag)?.default;
}

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

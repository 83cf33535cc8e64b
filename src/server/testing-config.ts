/**
 * `pemba serve-testing` configuration: SpiceDB's `serve-testing` flags (so CI scripts and client
 * libraries' test setups carry over), each also readable from `PEMBA_<FLAG_NAME>`, plus two of
 * Pemba's own: `--max-datastores`, which bounds how many per-token datastores are kept, and
 * `--request-timeout`, as `pemba serve` has it.
 */
import type { ApiLimits } from '../api/limits.js';
import {
  apiLimitFlags,
  flagReader,
  GRPC_NETWORKS,
  grpcAddress,
  httpFlags,
  LOG_FLAGS,
  nonNegativeInt,
  parseBool,
  parseDuration,
  parseListenAddress,
  positiveInt,
  REQUEST_TIMEOUT_FLAG,
  resolveApiLimits,
  resolveLogFlags,
  tlsFlags,
} from './config.js';
import type { FlagSpec, ListenAddress, RawFlags, TlsPaths, UnixSocketAddress } from './config.js';
import type { LogFormat, LogLevel } from './logger.js';

/** One gRPC port: where, whether, with what TLS, and how long a connection may live. */
export interface TestingGrpcConfig {
  enabled: boolean;
  /** A TCP address, or a socket path when `network` is unix. */
  addr: ListenAddress | UnixSocketAddress;
  tls?: TlsPaths;
  /** After this long a connection is asked to go away (in-flight calls finish); 0: never. */
  maxConnAgeMs: number;
}

export interface TestingHttpConfig {
  enabled: boolean;
  addr: ListenAddress;
  tls?: TlsPaths;
}

export interface TestingConfig {
  grpc: TestingGrpcConfig;
  readonlyGrpc: TestingGrpcConfig;
  http: TestingHttpConfig;
  readonlyHttp: TestingHttpConfig;
  /** Validation files loaded into every token's datastore when it is created. */
  loadConfigs: string[];
  limits: ApiLimits;
  /** Most per-token datastores kept at once; past it the least recently used idle one is dropped. */
  maxDatastores: number;
  /** Longest a call may run, in ms (0: only the client's deadline); Watch and bulk streams are exempt. */
  requestTimeoutMs: number;
  shutdownGracePeriodMs: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
}

export const DEFAULT_MAX_DATASTORES = 1024;

function grpcFlags(prefix: string, what: string, addr: string): FlagSpec[] {
  return [
    { name: `${prefix}-addr`, arg: '<addr>', description: `address to serve ${what} on ([host]:port)`, default: addr },
    {
      name: `${prefix}-enabled`,
      arg: '[bool]',
      description: `serve ${what}${prefix.startsWith('readonly') ? ' (every write fails with UNAVAILABLE, ERROR_REASON_SERVICE_READ_ONLY)' : ''}`,
      default: 'true',
    },
    {
      name: `${prefix}-network`,
      arg: '<network>',
      description: `network to serve ${what} on: ${GRPC_NETWORKS.join(', ')} (unix: --${prefix}-addr is a socket path)`,
      default: 'tcp',
    },
    { name: `${prefix}-tls-cert-path`, arg: '<path>', description: `TLS certificate for ${what} (plaintext without)` },
    { name: `${prefix}-tls-key-path`, arg: '<path>', description: `TLS private key for ${what}` },
    {
      name: `${prefix}-max-conn-age`,
      arg: '<duration>',
      description: `how long a connection to ${what} may live before it is asked to go away (0: forever)`,
      default: '30s',
    },
    {
      name: `${prefix}-max-workers`,
      arg: '<n>',
      description: 'accepted for compatibility with SpiceDB; Node.js serves every call on its event loop',
      default: '0',
    },
  ];
}

export const SERVE_TESTING_FLAGS: FlagSpec[] = [
  ...grpcFlags('grpc', 'gRPC', ':50051'),
  ...grpcFlags('readonly-grpc', 'read-only gRPC', ':50052'),
  ...httpFlags('http', 'the HTTP/JSON gateway', ':8443'),
  ...httpFlags('readonly-http', 'the read-only HTTP/JSON gateway', ':8444'),
  {
    name: 'load-configs',
    arg: '<files>',
    description:
      "validation files (zed's YAML) whose schema and relationships every token's datastore starts with (repeat the flag or separate with commas)",
    repeatable: true,
  },
  {
    name: 'max-datastores',
    arg: '<n>',
    description:
      'most per-token datastores kept at once; past it the least recently used one without calls in flight is dropped',
    default: String(DEFAULT_MAX_DATASTORES),
  },
  ...apiLimitFlags(),
  REQUEST_TIMEOUT_FLAG,
  {
    name: 'grpc-shutdown-grace-period',
    arg: '<duration>',
    description: 'how long shutdown waits for in-flight calls (e.g. 5s)',
    default: '5s',
  },
  ...LOG_FLAGS,
];

export function resolveTestingConfig(raw: RawFlags, isTty = false): TestingConfig {
  const { str, list } = flagReader(raw, SERVE_TESTING_FLAGS);
  const log = resolveLogFlags(str, isTty);
  const grpc = (prefix: string): TestingGrpcConfig => {
    nonNegativeInt(str(`${prefix}-max-workers`)!, `${prefix}-max-workers`);
    return {
      enabled: parseBool(str(`${prefix}-enabled`)!, `${prefix}-enabled`),
      addr: grpcAddress(str, prefix),
      tls: tlsFlags(str, prefix),
      maxConnAgeMs: parseDuration(str(`${prefix}-max-conn-age`)!, `${prefix}-max-conn-age`),
    };
  };
  const http = (prefix: string): TestingHttpConfig => ({
    enabled: parseBool(str(`${prefix}-enabled`)!, `${prefix}-enabled`),
    addr: parseListenAddress(str(`${prefix}-addr`)!, `${prefix}-addr`),
    tls: tlsFlags(str, prefix),
  });

  return {
    grpc: grpc('grpc'),
    readonlyGrpc: grpc('readonly-grpc'),
    http: http('http'),
    readonlyHttp: http('readonly-http'),
    loadConfigs: list('load-configs'),
    limits: resolveApiLimits(str),
    maxDatastores: positiveInt(str('max-datastores')!, 'max-datastores'),
    requestTimeoutMs: parseDuration(str('request-timeout')!, 'request-timeout'),
    shutdownGracePeriodMs: parseDuration(str('grpc-shutdown-grace-period')!, 'grpc-shutdown-grace-period'),
    ...log,
  };
}

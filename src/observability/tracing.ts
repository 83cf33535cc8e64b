/**
 * OpenTelemetry tracing for `pemba serve`: startTracing registers a global NodeTracerProvider that
 * exports spans over OTLP (HTTP/JSON or gRPC); the helpers below are what the transports, the
 * instrumented datastore and remote dispatch use. With no provider registered every helper is a
 * cheap pass-through: tracingEnabled() is a couple of property reads, and nothing else runs.
 *
 * Only @opentelemetry/api is imported statically; the SDK and the exporters are loaded by
 * startTracing, so a server without tracing never loads them.
 */
import {
  context,
  propagation,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  INVALID_SPAN_CONTEXT,
} from '@opentelemetry/api';
import type { Attributes, Context, Span, TextMapGetter, Tracer } from '@opentelemetry/api';

export type TracingProvider = 'none' | 'otlphttp' | 'otlpgrpc';

export interface TracingConfig {
  provider: TracingProvider;
  /**
   * The collector: for otlphttp a base URL such as http://127.0.0.1:4318 (spans go to
   * `${endpoint}/v1/traces`), for otlpgrpc a URL such as http://127.0.0.1:4317. Absent: the
   * exporter's default (or its OTEL_EXPORTER_OTLP_* environment variables).
   */
  endpoint?: string;
  /** Fraction of new traces sampled, 0 to 1; a call with a sampled parent is always sampled. */
  sampleRatio: number;
  serviceName: string;
  /** This process among the service's (OpenTelemetry's service.instance.id): which node a span came from. */
  instanceId?: string;
  /** otlpgrpc: plaintext instead of TLS (also implied by an http:// endpoint). */
  insecure?: boolean;
}

export interface Tracing {
  /** Flushes the spans still buffered, stops exporting and unregisters the global provider. */
  shutdown(): Promise<void>;
}

/** The tracer every Pemba span comes from. */
export const TRACER_NAME = 'pemba';

/** How soon a finished span is exported: short, so tests (and operators) see spans quickly. */
const EXPORT_DELAY_MS = 500;

/** The provider the API answers with when nothing is registered (the API does not export it). */
const NOOP_DELEGATE = new ProxyTracerProvider().getDelegate();

/**
 * True when a tracer provider is registered globally (by startTracing or by an embedding
 * application). Cheap: the transports and the datastore wrapper ask on every call.
 */
export function tracingEnabled(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NOOP_DELEGATE;
}

export function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

let running: Tracing | undefined;

export async function startTracing(config: TracingConfig): Promise<Tracing> {
  if (config.provider === 'none') return { shutdown: async () => undefined };
  if (running) throw new Error('tracing is already started in this process');
  if (!(config.sampleRatio >= 0 && config.sampleRatio <= 1))
    throw new Error(`tracing sample ratio must be between 0 and 1, got ${config.sampleRatio}`);
  const [{ NodeTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler }, core, resources] =
    await Promise.all([
      import('@opentelemetry/sdk-trace-node'),
      import('@opentelemetry/core'),
      import('@opentelemetry/resources'),
    ]);
  const exporter = await createExporter(config);
  const provider = new NodeTracerProvider({
    resource: resources.resourceFromAttributes({
      'service.name': config.serviceName,
      ...(config.instanceId ? { 'service.instance.id': config.instanceId } : {}),
    }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: EXPORT_DELAY_MS })],
  });
  // The default context manager is AsyncLocalStorage's; the propagator is W3C trace context alone.
  provider.register({ propagator: new core.W3CTraceContextPropagator() });
  let stopping: Promise<void> | undefined;
  const tracing: Tracing = {
    shutdown: () =>
      (stopping ??= (async () => {
        try {
          await provider.shutdown();
        } finally {
          trace.disable();
          propagation.disable();
          context.disable();
          if (running === tracing) running = undefined;
        }
      })()),
  };
  running = tracing;
  return tracing;
}

async function createExporter(config: TracingConfig) {
  const endpoint = config.endpoint?.replace(/\/+$/, '');
  if (config.provider === 'otlphttp') {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    return new OTLPTraceExporter(endpoint ? { url: `${endpoint}/v1/traces` } : {});
  }
  if (config.provider === 'otlpgrpc') {
    const [{ OTLPTraceExporter }, grpc] = await Promise.all([
      import('@opentelemetry/exporter-trace-otlp-grpc'),
      import('@grpc/grpc-js'),
    ]);
    const plaintext = config.insecure ?? endpoint?.startsWith('http://') ?? false;
    return new OTLPTraceExporter({
      ...(endpoint ? { url: endpoint } : {}),
      credentials: plaintext ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(),
    });
  }
  throw new Error(`unknown tracing provider: ${String(config.provider)}`);
}

/** Writes the active (or given) context's `traceparent`/`tracestate` into `carrier`; returns it. */
export function injectTraceContext<C extends Record<string, string>>(carrier: C, ctx: Context = context.active()): C {
  propagation.inject(ctx, carrier);
  return carrier;
}

const recordGetter: TextMapGetter<Record<string, string | string[] | undefined>> = {
  get: (carrier, key) => carrier[key] ?? carrier[key.toLowerCase()],
  keys: (carrier) => Object.keys(carrier),
};

/** The context a `traceparent`/`tracestate` carrier names (the root context when it names none). */
export function extractTraceContext(
  carrier: Record<string, string | string[] | undefined>,
  parent: Context = ROOT_CONTEXT,
): Context {
  return propagation.extract(parent, carrier, recordGetter);
}

/** A span that records nothing, handed to withSpan's callback when tracing is off. */
const NO_SPAN = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * Runs `fn` inside a new active span (a child of `parentContext`, or of the active context), ends
 * the span when `fn` returns or its promise settles, and records a thrown error on it. With tracing
 * off, just runs `fn`.
 */
export function withSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => T,
  parentContext?: Context,
  kind: SpanKind = SpanKind.INTERNAL,
): T {
  if (!tracingEnabled()) return fn(NO_SPAN);
  const parent = parentContext ?? context.active();
  const span = tracer().startSpan(name, { kind, attributes }, parent);
  return context.with(trace.setSpan(parent, span), () => {
    let result: T;
    try {
      result = fn(span);
    } catch (error) {
      failSpan(span, error);
      span.end();
      throw error;
    }
    if (isPromise(result)) {
      return result.then(
        (value) => {
          span.end();
          return value;
        },
        (error: unknown) => {
          failSpan(span, error);
          span.end();
          throw error;
        },
      ) as T;
    }
    span.end();
    return result;
  });
}

function isPromise(value: unknown): value is Promise<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** Marks a span failed by `error`. */
export function failSpan(span: Span, error: unknown): void {
  if (error instanceof Error) span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

/** The server span of one API call, opened by startCall when tracing is on. */
export interface CallSpan {
  /** Runs `fn` with the call's span active, so datastore and dispatch spans become its children. */
  run<T>(fn: () => T): T;
  /** Ends the span with the call's gRPC status; `unexpected` errors are recorded as exceptions. */
  end(code: number, codeName: string, error?: unknown, unexpected?: boolean): void;
}

const headerGetter: TextMapGetter<(name: string) => string | undefined> = {
  get: (header, key) => header(key),
  keys: () => [],
};

/** gRPC codes OpenTelemetry's semantic conventions count as a server error. */
const SERVER_ERROR_CODES = new Set([
  'UNKNOWN',
  'DEADLINE_EXCEEDED',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
]);

/**
 * Opens the server span of an API call named after its method (`authzed.api.v1.PermissionsService/
 * CheckPermission`), a child of the trace context the client sent (`header` reads the call's
 * `traceparent`/`tracestate`). Undefined when tracing is off.
 */
export function startCallSpan(
  method: string,
  transport: string,
  header: ((name: string) => string | undefined) | undefined,
): CallSpan | undefined {
  if (!tracingEnabled()) return undefined;
  const parent = header ? propagation.extract(ROOT_CONTEXT, header, headerGetter) : ROOT_CONTEXT;
  const slash = method.lastIndexOf('/');
  const span = tracer().startSpan(
    method,
    {
      kind: SpanKind.SERVER,
      attributes: {
        'rpc.system': 'grpc',
        'rpc.service': method.slice(0, slash),
        'rpc.method': method.slice(slash + 1),
        'pemba.transport': transport,
      },
    },
    parent,
  );
  const active = trace.setSpan(parent, span);
  return {
    run: (fn) => context.with(active, fn),
    end(code, codeName, error, unexpected) {
      span.setAttribute('rpc.grpc.status_code', code);
      if (error !== undefined) {
        if (unexpected && error instanceof Error) span.recordException(error);
        if (SERVER_ERROR_CODES.has(codeName))
          span.setStatus({
            code: SpanStatusCode.ERROR,
            message: error instanceof Error ? error.message : codeName,
          });
      }
      span.end();
    },
  };
}

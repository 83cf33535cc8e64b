/**
 * The dispatch port: the service other nodes send check sub-problems to (see protocol.ts). The secret is
 * checked before a message is decoded; a sub-problem is evaluated at the revision it names, on this
 * node's share of the fleet's cache. Errors the evaluation raises go back in the reply, to be raised by
 * the caller; anything else (this node closing, its datastore unreachable) is a failed call, after which
 * the caller evaluates the sub-problem itself.
 */
import { timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { SpanKind } from '@opentelemetry/api';
import { PembaError } from '../errors/index.js';
import { extractTraceContext, withSpan } from '../observability/tracing.js';
import type { SubproblemEvaluator } from './evaluate.js';
import type { HelloReply } from './protocol.js';
import { authorizationOf, decode, encode, KINDS, raw, SERVICE } from './protocol.js';

export interface DispatchServiceOptions {
  nodeId: string;
  datastore: string;
  secret: string;
  /** Evaluates sub-problems here. */
  evaluate: SubproblemEvaluator;
}

/** Errors that are the evaluation's answer wherever it runs, so the caller raises them rather than retrying. */
const DETERMINISTIC = new Set(['FAILED_PRECONDITION', 'INVALID_ARGUMENT', 'RESOURCE_EXHAUSTED']);

export function addDispatchService(server: grpc.Server, options: DispatchServiceOptions): void {
  const expected = Buffer.from(`Bearer ${options.secret}`);
  const authorized = (metadata: grpc.Metadata) => {
    const given = Buffer.from(authorizationOf(metadata) ?? '');
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
  const method = (path: string) => ({
    path: `/${SERVICE}/${path}`,
    requestStream: false,
    responseStream: false,
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: encode,
    responseDeserialize: raw,
  });
  const unauthenticated = { code: grpc.status.UNAUTHENTICATED, details: 'invalid dispatch secret' };

  /** One kind of sub-problem: decoded after the secret is checked, evaluated in the caller's trace. */
  const serve =
    <P extends { type: string; id: string; relation: string; depth: number }, O>(
      spanName: string,
      fromMessage: (message: never) => P,
      evaluate: (problem: P, signal: AbortSignal) => Promise<O>,
      toReply: (outcome: O) => unknown,
    ) =>
    (call: grpc.ServerUnaryCall<Buffer, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      if (!authorized(call.metadata)) return callback(unauthenticated);
      let problem: P;
      try {
        const message = decode<{ datastore?: unknown }>(call.request);
        if (message?.datastore !== options.datastore) {
          return callback({ code: grpc.status.FAILED_PRECONDITION, details: 'this node serves another datastore' });
        }
        problem = fromMessage(message as never);
      } catch {
        return callback({ code: grpc.status.INVALID_ARGUMENT, details: 'malformed dispatch message' });
      }
      const controller = new AbortController();
      call.on('cancelled', () => controller.abort(new Error('dispatch cancelled by its caller')));
      const carrier: Record<string, string> = {};
      for (const key of ['traceparent', 'tracestate']) {
        const v = call.metadata.get(key)[0];
        if (typeof v === 'string') carrier[key] = v;
      }
      const attributes = {
        'pemba.dispatch.userset': `${problem.type}:${problem.id}#${problem.relation}`,
        'pemba.dispatch.depth': problem.depth,
      };
      withSpan(
        spanName,
        attributes,
        () => evaluate(problem, controller.signal),
        extractTraceContext(carrier),
        SpanKind.SERVER,
      ).then(
        (outcome) => callback(null, toReply(outcome)),
        (error: unknown) => {
          if (error instanceof PembaError && DETERMINISTIC.has(error.code)) {
            const { code, message, reason, metadata } = error;
            return callback(null, { error: { code, message, reason, metadata } });
          }
          callback({ code: grpc.status.UNAVAILABLE, details: `dispatch failed: ${(error as Error)?.message}` });
        },
      );
    };

  const { check, subjects } = KINDS;
  const evaluator = options.evaluate;
  server.addService(
    { Hello: method('Hello'), [check.method]: method(check.method), [subjects.method]: method(subjects.method) },
    {
      Hello(call: grpc.ServerUnaryCall<Buffer, HelloReply>, callback: grpc.sendUnaryData<HelloReply>) {
        if (!authorized(call.metadata)) return callback(unauthenticated);
        callback(null, { nodeId: options.nodeId, datastore: options.datastore });
      },
      [check.method]: serve('dispatch.serve_check', check.fromMessage, (p, s) => evaluator.check(p, s), check.toReply),
      [subjects.method]: serve(
        'dispatch.serve_lookup_subjects',
        subjects.fromMessage,
        (p, s) => evaluator.subjects(p, s),
        subjects.toReply,
      ),
    },
  );
}

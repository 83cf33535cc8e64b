/**
 * Errors at the API boundary: any thrown value becomes one gRPC status (code, message and, where
 * SpiceDB sends one, a google.rpc.ErrorInfo detail with the authzed ErrorReason), which the gRPC
 * transport sends as `grpc-status-details-bin` and the HTTP gateway as JSON.
 */
import { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { PembaError } from '../errors/index.js';
import { ERROR_DOMAIN, ErrorInfo, ERROR_INFO_TYPE_URL, packErrorInfo, RpcStatus } from './rpc-status.js';
import { encodeMessage } from './grpc/codec.js';

export type StatusName = keyof typeof GrpcStatus;

/** What every transport needs to know about a failed call. */
export interface Failure {
  code: number;
  codeName: StatusName;
  message: string;
  reason?: string;
  metadata: Record<string, string>;
  /** True when the error was not one of ours: the caller logs it as a bug. */
  unexpected: boolean;
}

export function toFailure(error: unknown): Failure {
  if (error instanceof PembaError) {
    const codeName: StatusName = error.code;
    return {
      code: GrpcStatus[codeName],
      codeName,
      message: error.message,
      reason: error.reason,
      metadata: { ...error.metadata },
      unexpected: false,
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  return {
    code: GrpcStatus.INTERNAL,
    codeName: 'INTERNAL',
    message: `internal error: ${message}`,
    metadata: {},
    unexpected: true,
  };
}

/** google.rpc.Status for a failure (CheckBulkPermissions per-item errors, grpc-status-details-bin). */
export function toRpcStatus(f: Failure): RpcStatus {
  const details = f.reason ? [packErrorInfo({ reason: f.reason, domain: ERROR_DOMAIN, metadata: f.metadata })] : [];
  return { code: f.code, message: f.message, details };
}

/** The error object grpc-js sends: status, message and the rich status in the trailers. */
export function toServiceError(f: Failure): Pick<ServiceError, 'code' | 'details' | 'metadata'> {
  const metadata = new Metadata();
  metadata.set('grpc-status-details-bin', encodeMessage(RpcStatus, toRpcStatus(f)));
  return { code: f.code, details: f.message, metadata };
}

/** grpc-gateway's JSON error body. */
export function toJsonError(f: Failure): { code: number; message: string; details: object[] } {
  const details = f.reason
    ? [
        {
          '@type': ERROR_INFO_TYPE_URL,
          ...(ErrorInfo.toJson(
            { reason: f.reason, domain: ERROR_DOMAIN, metadata: f.metadata },
            { emitDefaultValues: true },
          ) as object),
        },
      ]
    : [];
  return { code: f.code, message: f.message, details };
}

/** grpc-gateway's mapping from gRPC status to HTTP status. */
export function httpStatusOf(code: number): number {
  switch (code) {
    case GrpcStatus.OK:
      return 200;
    case GrpcStatus.CANCELLED:
      return 499;
    case GrpcStatus.INVALID_ARGUMENT:
    case GrpcStatus.FAILED_PRECONDITION:
    case GrpcStatus.OUT_OF_RANGE:
      return 400;
    case GrpcStatus.DEADLINE_EXCEEDED:
      return 504;
    case GrpcStatus.NOT_FOUND:
      return 404;
    case GrpcStatus.ALREADY_EXISTS:
    case GrpcStatus.ABORTED:
      return 409;
    case GrpcStatus.PERMISSION_DENIED:
      return 403;
    case GrpcStatus.UNAUTHENTICATED:
      return 401;
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return 429;
    case GrpcStatus.UNIMPLEMENTED:
      return 501;
    case GrpcStatus.UNAVAILABLE:
      return 503;
    default:
      return 500;
  }
}

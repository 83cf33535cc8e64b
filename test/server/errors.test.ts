import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { PembaError } from '../../src/errors/index.js';
import { httpStatusOf, toFailure, toJsonError, toServiceError } from '../../src/api/errors.js';
import { RpcStatus, unpackErrorInfo } from '../../src/api/rpc-status.js';
import { failedPrecondition } from '../../src/errors/index.js';

describe('errors at the API boundary', () => {
  const e = failedPrecondition('object definition `nope` not found', 'ERROR_REASON_UNKNOWN_DEFINITION', {
    definition_name: 'nope',
  });

  it('carries the status, message and ErrorInfo in grpc-status-details-bin', () => {
    const se = toServiceError(toFailure(e));
    expect(se.code).toBe(status.FAILED_PRECONDITION);
    expect(se.details).toBe('object definition `nope` not found');
    const bin = se.metadata!.get('grpc-status-details-bin')[0] as Buffer;
    const st = RpcStatus.fromBinary(bin);
    expect(st.code).toBe(status.FAILED_PRECONDITION);
    expect(unpackErrorInfo(st)).toEqual({
      reason: 'ERROR_REASON_UNKNOWN_DEFINITION',
      domain: 'authzed.com',
      metadata: { definition_name: 'nope' },
    });
  });

  it('renders grpc-gateway JSON errors', () => {
    expect(toJsonError(toFailure(e))).toEqual({
      code: 9,
      message: 'object definition `nope` not found',
      details: [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'ERROR_REASON_UNKNOWN_DEFINITION',
          domain: 'authzed.com',
          metadata: { definition_name: 'nope' },
        },
      ],
    });
    expect(toJsonError(toFailure(new PembaError('UNAUTHENTICATED', 'no')))).toEqual({
      code: 16,
      message: 'no',
      details: [],
    });
  });

  it('turns unknown errors into INTERNAL, flagged for logging', () => {
    const f = toFailure(new TypeError('boom'));
    expect(f).toMatchObject({ code: status.INTERNAL, unexpected: true });
    expect(f.message).toContain('boom');
  });

  it('maps statuses to HTTP like grpc-gateway', () => {
    expect(httpStatusOf(status.INVALID_ARGUMENT)).toBe(400);
    expect(httpStatusOf(status.FAILED_PRECONDITION)).toBe(400);
    expect(httpStatusOf(status.UNAUTHENTICATED)).toBe(401);
    expect(httpStatusOf(status.ALREADY_EXISTS)).toBe(409);
    expect(httpStatusOf(status.NOT_FOUND)).toBe(404);
    expect(httpStatusOf(status.INTERNAL)).toBe(500);
  });
});

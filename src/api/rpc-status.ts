/**
 * google.rpc.Status, google.protobuf.Any and google.rpc.ErrorInfo. authzed-node does not export them
 * (only uses Status inside CheckBulkPermissionsPair), so they are declared here with protobuf-ts's
 * reflection runtime, which gives the same toBinary/toJson as the generated types.
 */
import { MessageType, ScalarType } from '@protobuf-ts/runtime';

export interface ErrorInfo {
  reason: string;
  domain: string;
  metadata: { [key: string]: string };
}

export const ErrorInfo = new MessageType<ErrorInfo>('google.rpc.ErrorInfo', [
  { no: 1, name: 'reason', kind: 'scalar', T: ScalarType.STRING },
  { no: 2, name: 'domain', kind: 'scalar', T: ScalarType.STRING },
  { no: 3, name: 'metadata', kind: 'map', K: ScalarType.STRING, V: { kind: 'scalar', T: ScalarType.STRING } },
]);

export interface Any {
  typeUrl: string;
  value: Uint8Array;
}

export const Any = new MessageType<Any>('google.protobuf.Any', [
  { no: 1, name: 'type_url', kind: 'scalar', T: ScalarType.STRING },
  { no: 2, name: 'value', kind: 'scalar', T: ScalarType.BYTES },
]);

export interface RpcStatus {
  code: number;
  message: string;
  details: Any[];
}

export const RpcStatus = new MessageType<RpcStatus>('google.rpc.Status', [
  { no: 1, name: 'code', kind: 'scalar', T: ScalarType.INT32 },
  { no: 2, name: 'message', kind: 'scalar', T: ScalarType.STRING },
  { no: 3, name: 'details', kind: 'message', repeat: 2, T: () => Any },
]);

/** The domain SpiceDB puts on its ErrorInfo details. */
export const ERROR_DOMAIN = 'authzed.com';
export const ERROR_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.ErrorInfo';

export function packErrorInfo(info: ErrorInfo): Any {
  return { typeUrl: ERROR_INFO_TYPE_URL, value: ErrorInfo.toBinary(info) };
}

/** The ErrorInfo among a status's details, if any (clients and tests read it back this way). */
export function unpackErrorInfo(status: RpcStatus): ErrorInfo | undefined {
  const any = status.details.find((d) => d.typeUrl === ERROR_INFO_TYPE_URL);
  return any ? ErrorInfo.fromBinary(any.value) : undefined;
}

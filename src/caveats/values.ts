/**
 * Run-time CEL values that are protobuf messages: timestamps, durations, and SpiceDB's `IPAddress`
 * (a one-field message of our own, so `type(ip)`, `==` and `in_cidr` behave as in cel-go).
 */
import { create, createFileRegistry, type DescMessage } from '@bufbuild/protobuf';
import { reflect, type ReflectMessage } from '@bufbuild/protobuf/reflect';
import {
  DurationSchema,
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
  TimestampSchema,
} from '@bufbuild/protobuf/wkt';
import type { Instant } from './go-time.js';
import { formatIpAddress, type IpAddress } from './ipaddress.js';

/** The CEL type name SpiceDB gives ipaddress values. */
export const IP_ADDRESS_TYPE = 'IPAddress';

export const ipRegistry = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: 'pemba/caveats/ipaddress.proto',
    syntax: 'proto3',
    messageType: [
      {
        name: IP_ADDRESS_TYPE,
        field: [
          {
            name: 'address',
            jsonName: 'address',
            number: 1,
            type: FieldDescriptorProto_Type.STRING,
            label: FieldDescriptorProto_Label.OPTIONAL,
          },
        ],
      },
    ],
  }),
  () => undefined,
);

export const IpAddressSchema: DescMessage = ipRegistry.getMessage(IP_ADDRESS_TYPE)!;

export function timestampValue(t: Instant): ReflectMessage {
  return reflect(TimestampSchema, create(TimestampSchema, { seconds: t.seconds, nanos: t.nanos }));
}

export function durationValue(nanoseconds: bigint): ReflectMessage {
  return reflect(
    DurationSchema,
    create(DurationSchema, { seconds: nanoseconds / 1_000_000_000n, nanos: Number(nanoseconds % 1_000_000_000n) }),
  );
}

/** Holds the canonical text, so message equality is address equality. */
export function ipAddressValue(ip: IpAddress): ReflectMessage {
  const message = create(IpAddressSchema);
  (message as unknown as { address: string }).address = formatIpAddress(ip);
  return reflect(IpAddressSchema, message);
}

export function ipAddressText(value: ReflectMessage): string {
  return (value.message as unknown as { address: string }).address;
}

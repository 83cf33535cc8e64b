/** gRPC server reflection (v1 and v1alpha, via @grpc/reflection) over synthesised descriptors. */
import type { Server } from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import type { ServiceDescriptor } from '../method.js';
import { fileDescriptors } from './descriptors.js';

export function addReflection(server: Server, services: ServiceDescriptor[]): void {
  const fileDescriptorProtos = fileDescriptors(services);
  // @grpc/reflection reads only `fileDescriptorProtos` from a proto-loader package definition.
  const pkg = Object.fromEntries(services.map((s) => [s.typeName, { fileDescriptorProtos }]));
  new ReflectionService(pkg as unknown as ConstructorParameters<typeof ReflectionService>[0]).addToServer(server);
}

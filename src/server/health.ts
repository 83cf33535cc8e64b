/**
 * grpc.health.v1.Health (grpc-health-check), reporting every served service and the server as a
 * whole ("") SERVING until shutdown begins. Exempt from authentication, as probes carry no key.
 * The message types are declared here only so that server reflection can describe the service.
 */
import type { Server } from '@grpc/grpc-js';
import { MessageType, ScalarType } from '@protobuf-ts/runtime';
import { HealthImplementation } from 'grpc-health-check';
import type { ServiceDescriptor } from '../api/method.js';

const ServingStatus = {
  UNKNOWN: 0,
  SERVING: 1,
  NOT_SERVING: 2,
  SERVICE_UNKNOWN: 3,
  0: 'UNKNOWN',
  1: 'SERVING',
  2: 'NOT_SERVING',
  3: 'SERVICE_UNKNOWN',
};
const HealthCheckRequest = new MessageType<{ service: string }>('grpc.health.v1.HealthCheckRequest', [
  { no: 1, name: 'service', kind: 'scalar', T: ScalarType.STRING },
]);
const HealthCheckResponse = new MessageType<{ status: number }>('grpc.health.v1.HealthCheckResponse', [
  { no: 1, name: 'status', kind: 'enum', T: () => ['grpc.health.v1.HealthCheckResponse.ServingStatus', ServingStatus] },
]);

export const HEALTH_DESCRIPTOR: ServiceDescriptor = {
  typeName: 'grpc.health.v1.Health',
  methods: [
    { name: 'Check', I: HealthCheckRequest, O: HealthCheckResponse, options: {} },
    { name: 'Watch', serverStreaming: true, I: HealthCheckRequest, O: HealthCheckResponse, options: {} },
  ],
};

export class Health {
  private readonly impl: HealthImplementation;

  constructor(private readonly services: string[]) {
    this.impl = new HealthImplementation(Object.fromEntries(['', ...services].map((s) => [s, 'SERVING' as const])));
  }

  addToServer(server: Server): void {
    this.impl.addToServer(server);
  }

  /** Probes see NOT_SERVING from the moment shutdown starts. */
  stopServing(): void {
    for (const s of ['', ...this.services]) this.impl.setStatus(s, 'NOT_SERVING');
  }
}

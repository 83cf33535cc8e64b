/**
 * grpc.health.v1.Health (grpc-health-check), reporting every served service and the server as a
 * whole (""): NOT_SERVING until the node can answer, SERVING while its datastore answers, and
 * NOT_SERVING again from the moment shutdown begins. Exempt from authentication, as probes carry no key.
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

/** How often the datastore is probed, and how long a probe may take before it counts as failed. */
const PROBE_EVERY_MS = 2000;
const PROBE_TIMEOUT_MS = 1500;

export class Health {
  private readonly impl: HealthImplementation;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  serving = false;

  constructor(
    private readonly services: string[],
    private readonly probeEveryMs = PROBE_EVERY_MS,
  ) {
    this.impl = new HealthImplementation(Object.fromEntries(['', ...services].map((s) => [s, 'NOT_SERVING' as const])));
  }

  addToServer(server: Server): void {
    this.impl.addToServer(server);
  }

  /**
   * SERVING now, then probes `reachable` (the datastore) every few seconds: NOT_SERVING while it fails
   * or hangs, so a load balancer sends calls to nodes that can answer them.
   */
  startServing(reachable: () => Promise<unknown>, onChange?: (serving: boolean, error?: unknown) => void): void {
    this.set(true);
    const probe = async () => {
      let timeout: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          reachable(),
          new Promise((_, reject) => {
            timeout = setTimeout(() => reject(new Error('datastore probe timed out')), PROBE_TIMEOUT_MS);
          }),
        ]);
        if (!this.serving && !this.stopped) onChange?.(true);
        this.set(true);
      } catch (error) {
        if (this.serving && !this.stopped) onChange?.(false, error);
        this.set(false);
      } finally {
        clearTimeout(timeout);
        if (!this.stopped) this.timer = setTimeout(probe, this.probeEveryMs).unref();
      }
    };
    this.timer = setTimeout(probe, this.probeEveryMs).unref();
  }

  /** Probes see NOT_SERVING from the moment shutdown starts. */
  stopServing(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.set(false);
  }

  private set(serving: boolean): void {
    if (this.stopped && serving) return;
    this.serving = serving;
    for (const s of ['', ...this.services]) this.impl.setStatus(s, serving ? 'SERVING' : 'NOT_SERVING');
  }
}

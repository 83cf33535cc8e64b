/**
 * Dispatch between nodes over real gRPC, inside one process: nodes are engines over one memory
 * datastore, each with its own dispatch port, ring and peers, as `pemba serve` assembles them. The
 * ring's spread and stability, a wrong secret, a node that stops, a slow owner (hedging) and errors
 * raised on the owner.
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterDispatch, type DispatchKind } from '../../src/cluster/cluster-dispatch.js';
import { addDispatchService } from '../../src/cluster/dispatch-server.js';
import { subproblemEvaluator } from '../../src/cluster/evaluate.js';
import { Peers } from '../../src/cluster/peers.js';
import { HashRing } from '../../src/cluster/ring.js';
import { parseUpstreams, resolveUpstreams } from '../../src/cluster/upstreams.js';
import type { Datastore } from '../../src/datastore/datastore.js';
import { openMemoryDatastore } from '../../src/datastore/memory/datastore.js';
import { Engine } from '../../src/engine/engine.js';
import { Pemba } from '../../src/pemba.js';
import { parseRelationship, parseSubject } from '../../src/relationships/relationship-string.js';

describe('HashRing', () => {
  const keys = Array.from({ length: 30_000 }, (_, i) => `doc:${i}#view@user:u${i % 97}|{}`);

  it('gives each of three nodes about a third of the keys, the same on every node', () => {
    const ring = new HashRing(['a', 'b', 'c']);
    const again = new HashRing(['c', 'a', 'b']);
    const counts = new Map<string, number>();
    for (const k of keys) {
      const owner = ring.owner(k)!;
      expect(again.owner(k)).toBe(owner);
      counts.set(owner, (counts.get(owner) ?? 0) + 1);
    }
    for (const n of ['a', 'b', 'c']) expect(Math.abs(counts.get(n)! / keys.length - 1 / 3)).toBeLessThan(0.06);
  });

  it('moves only the keys the new node takes when a node joins', () => {
    const three = new HashRing(['a', 'b', 'c']);
    const four = new HashRing(['a', 'b', 'c', 'd']);
    let moved = 0;
    for (const k of keys) {
      const before = three.owner(k);
      const after = four.owner(k);
      if (before !== after) {
        moved++;
        expect(after).toBe('d');
      }
    }
    expect(moved / keys.length).toBeGreaterThan(0.15);
    expect(moved / keys.length).toBeLessThan(0.35);
  });

  it('owns nothing when empty', () => {
    expect(new HashRing([]).owner('x')).toBeUndefined();
  });
});

describe('parseUpstreams', () => {
  it('reads host:port lists and refuses what is not one', () => {
    expect(parseUpstreams('10.0.0.1:50053, pemba-0.pemba:50053,[::1]:7')).toEqual([
      { host: '10.0.0.1', port: 50053 },
      { host: 'pemba-0.pemba', port: 50053 },
      { host: '::1', port: 7 },
    ]);
    expect(() => parseUpstreams('')).toThrow(/names no node/);
    expect(() => parseUpstreams('pemba:0')).toThrow(/host:port/);
    expect(() => parseUpstreams('pemba')).toThrow(/host:port/);
  });

  it('resolves names to every address they have, each once, and drops names that do not resolve', async () => {
    const addresses = await resolveUpstreams(parseUpstreams('localhost:7000,127.0.0.1:7000,no-such-host.invalid:1'));
    expect(addresses).toContain('127.0.0.1:7000');
    expect(addresses.filter((a) => a === '127.0.0.1:7000')).toHaveLength(1);
    expect(addresses.some((a) => a.includes('invalid'))).toBe(false);
  });
});

const SCHEMA = `
definition user {}
definition group {
  relation member: user | group#member
  relation banned: user
  permission view = member - banned
}
definition doc {
  relation parent: doc
  relation reader: user | group#member | user with ok
  permission read = reader + parent->read
}
caveat ok(allowed bool) { allowed }
`;

interface Node {
  id: string;
  engine: Engine;
  pemba?: Pemba;
  server: grpc.Server;
  port: number;
  peers: Peers;
  kinds: Record<DispatchKind, number>;
  close(): Promise<void>;
}

const open: Node[] = [];
afterEach(async () => {
  for (const n of open.splice(0).reverse()) await n.close();
});

function bind(server: grpc.Server): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, port) =>
      e ? reject(e) : resolve(port),
    ),
  );
}

/**
 * `count` nodes over `datastore`; node 0 is a Pemba (the one asked), the others engines. `slow` delays
 * every sub-problem a node serves; `secrets` gives a node another secret.
 */
async function fleet(
  datastore: Datastore,
  count: number,
  options: {
    slowMs?: number[];
    secrets?: string[];
    hedgeDelayMs?: number;
    nestedGroupIndex?: boolean;
    /** Reach each node through a proxy that can freeze its traffic (a hung node). */
    proxies?: FreezableProxy[];
  } = {},
): Promise<Node[]> {
  const nodes: Node[] = [];
  const servers = Array.from({ length: count }, () => new grpc.Server());
  const ports = await Promise.all(servers.map(bind));
  if (options.proxies) {
    for (const port of ports) options.proxies.push(await freezableProxy(port));
  }
  const reachable = options.proxies?.map((p) => p.port) ?? ports;
  const upstreams = parseUpstreams(reachable.map((p) => `127.0.0.1:${p}`).join(','));
  for (let i = 0; i < count; i++) {
    const id = `node-${i}`;
    const secret = options.secrets?.[i] ?? 'fleet-secret';
    const kinds: Record<DispatchKind, number> = { local: 0, remote: 0, remote_failed: 0, hedged: 0 };
    const peers = new Peers({ nodeId: id, datastore: datastore.id, upstreams, secret, refreshMs: 200 });
    const remoteDispatch = new ClusterDispatch({
      peers,
      datastore: datastore.id,
      secret,
      hedgeDelayMs: options.hedgeDelayMs ?? 5_000,
      timeoutMs: 10_000,
      onDispatch: (k) => kinds[k]++,
    });
    const engineOptions = { remoteDispatch, nestedGroupIndex: options.nestedGroupIndex ?? false };
    const pemba = i === 0 ? await Pemba.open({ ...engineOptions, datastore }) : undefined;
    const engine = pemba?.engine ?? (await Engine.open(datastore, engineOptions));
    const evaluate = subproblemEvaluator(datastore, engine);
    const slow = options.slowMs?.[i] ?? 0;
    addDispatchService(servers[i], {
      nodeId: id,
      datastore: datastore.id,
      secret,
      evaluate: slow
        ? {
            check: (p, s) => new Promise((r) => setTimeout(r, slow)).then(() => evaluate.check(p, s)),
            subjects: (p, s) => new Promise((r) => setTimeout(r, slow)).then(() => evaluate.subjects(p, s)),
          }
        : evaluate,
    });
    const node: Node = {
      id,
      engine,
      pemba,
      server: servers[i],
      port: ports[i],
      peers,
      kinds,
      close: async () => {
        peers.close();
        servers[i].forceShutdown();
        if (pemba) await pemba.close();
        else await engine.close();
      },
    };
    nodes.push(node);
    open.push(node);
  }
  await Promise.all(nodes.map((n) => n.peers.start()));
  return nodes;
}

interface FreezableProxy {
  port: number;
  /** Stops passing bytes either way on every connection, as a hung process would (connections stay open). */
  freeze(): void;
  close(): void;
}

async function freezableProxy(target: number): Promise<FreezableProxy> {
  let frozen = false;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ]) {
      sockets.add(from);
      from.on('data', (d) => {
        if (!frozen) to.write(d);
      });
      from.on('error', () => to.destroy());
      from.on('close', () => to.destroy());
    }
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
  return {
    port,
    freeze: () => (frozen = true),
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** `doc:D#read@user:U` for every [D, U], all at once. */
function readAll(pemba: Pemba, cases: string[][]) {
  return Promise.all(
    cases.map(([doc, user]) =>
      pemba.check({
        resource: { type: 'doc', id: doc },
        permission: 'read',
        subject: parseSubject(`user:${user}`),
        consistency: { mode: 'fully_consistent' },
      }),
    ),
  );
}

async function load(pemba: Pemba, relationships: string[]): Promise<void> {
  await pemba.writeSchema(SCHEMA);
  await pemba.writeRelationships({
    updates: relationships.map((r) => ({ operation: 'TOUCH' as const, relationship: parseRelationship(r) })),
  });
}

const RELATIONSHIPS = [
  ...Array.from({ length: 40 }, (_, i) => `group:g${i}#member@group:g${i + 1}#member`),
  'group:g40#member@user:deep',
  'group:g40#member@group:g0#member',
  'group:g3#banned@user:deep',
  'doc:d0#reader@group:g0#member',
  ...Array.from({ length: 20 }, (_, i) => `doc:d${i + 1}#parent@doc:d${i}`),
  'doc:d5#reader@user:cav[ok]',
];

const QUESTIONS = [
  ...['deep', 'nobody', 'cav'].flatMap((u) =>
    ['g0', 'g3', 'g20', 'g40'].flatMap((g) => ['member', 'view'].map((p) => [`group:${g}`, p, `user:${u}`])),
  ),
  ...['deep', 'cav', 'nobody'].flatMap((u) => ['d0', 'd4', 'd5', 'd20'].map((d) => [`doc:${d}`, 'read', `user:${u}`])),
];

async function answers(pemba: Pemba, context?: Record<string, unknown>): Promise<string[]> {
  const out: string[] = [];
  for (const [resource, permission] of [
    ['group:g0', 'member'],
    ['group:g0', 'view'],
    ['group:g20', 'view'],
    ['doc:d20', 'read'],
    ['doc:d0', 'read'],
  ]) {
    const [type, id] = resource.split(':');
    const found = await pemba.lookupSubjects({
      resource: { type, id },
      permission,
      subjectType: 'user',
      context,
      consistency: { mode: 'fully_consistent' },
    });
    out.push(`${resource}#${permission} subjects ${JSON.stringify(found)}`);
  }
  for (const [resource, permission, subject] of QUESTIONS) {
    const [type, id] = resource.split(':');
    try {
      const r = await pemba.check({
        resource: { type, id },
        permission,
        subject: parseSubject(subject),
        context,
        consistency: { mode: 'fully_consistent' },
      });
      out.push(`${resource}#${permission}@${subject} ${r.permissionship} ${r.missingContext?.join(',') ?? ''}`);
    } catch (e) {
      out.push(`${resource}#${permission}@${subject} ${(e as Error).message}`);
    }
  }
  return out;
}

// Sequential hops over loopback gRPC: seconds when the machine is busy.
describe('dispatch between nodes over gRPC', { timeout: 30_000 }, () => {
  it('answers as one node does (cycles, exclusions, arrows, caveats), with most sub-problems sent to their owners', async () => {
    const alone = await Pemba.open({ nestedGroupIndex: false });
    await load(alone, RELATIONSHIPS);
    const expected = [...(await answers(alone)), ...(await answers(alone, { allowed: true }))];
    await alone.close();

    const datastore = openMemoryDatastore();
    const [a, b, c] = await fleet(datastore, 3);
    await load(a.pemba!, RELATIONSHIPS);
    expect(a.peers.ring()).toEqual(['node-0', 'node-1', 'node-2']);
    const got = [...(await answers(a.pemba!)), ...(await answers(a.pemba!, { allowed: true }))];
    expect(got).toEqual(expected);
    // A chain of 40 groups and of 20 parents: sub-problems cross nodes many times, both ways.
    expect(a.kinds.remote).toBeGreaterThan(10);
    expect(b.kinds.remote + c.kinds.remote).toBeGreaterThan(10);
    expect(a.kinds.remote_failed + b.kinds.remote_failed + c.kinds.remote_failed).toBe(0);
  });

  it('raises the depth error the owner raised, as one node would', async () => {
    const chain = Array.from({ length: 60 }, (_, i) => `group:c${i}#member@group:c${i + 1}#member`);
    const alone = await Pemba.open({ nestedGroupIndex: false });
    await load(alone, [...chain, 'group:c60#member@user:far']);
    const ask = (p: Pemba) =>
      p.check({
        resource: { type: 'group', id: 'c0' },
        permission: 'member',
        subject: parseSubject('user:far'),
        consistency: { mode: 'fully_consistent' },
      });
    type Failure = { code: string; reason: string; message: string };
    const single = (await ask(alone).catch((e: unknown) => e)) as Failure;
    await alone.close();
    const [a] = await fleet(openMemoryDatastore(), 3);
    await load(a.pemba!, [...chain, 'group:c60#member@user:far']);
    const started = Date.now();
    const dispatched = (await ask(a.pemba!).catch((e: unknown) => e)) as Failure;
    expect(single).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'ERROR_REASON_MAXIMUM_DEPTH_EXCEEDED' });
    expect(dispatched).toMatchObject({ code: single.code, reason: single.reason, message: single.message });
    // Raised once, not retried locally at every level.
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('keeps a fully consistent request on the primary on every node it reaches', async () => {
    const memory = openMemoryDatastore();
    const opened: (boolean | undefined)[] = [];
    // Records how snapshots are opened, and marks the reader as a PostgreSQL one does.
    const datastore = new Proxy(memory, {
      get(target, key, receiver) {
        if (key !== 'snapshot') return Reflect.get(target, key, receiver) as unknown;
        return (revision: bigint, options?: { primary?: boolean }) => {
          opened.push(options?.primary);
          return Object.assign(Object.create(target.snapshot(revision)) as object, { primary: options?.primary });
        };
      },
    });
    const [a, b, c] = await fleet(datastore, 3);
    await load(a.pemba!, RELATIONSHIPS);
    const ask = (consistency: { mode: 'fully_consistent' } | { mode: 'minimize_latency' }) =>
      a.pemba!.check({
        resource: { type: 'group', id: 'g30' },
        permission: 'member',
        subject: parseSubject('user:deep'),
        consistency,
      });
    opened.length = 0;
    await ask({ mode: 'fully_consistent' });
    expect(b.kinds.remote + c.kinds.remote + a.kinds.remote).toBeGreaterThan(0);
    expect(opened.length).toBeGreaterThan(1);
    expect(opened.every((p) => p === true)).toBe(true);
    opened.length = 0;
    await ask({ mode: 'minimize_latency' });
    expect(opened.some((p) => p === true)).toBe(false);
  });

  it('leaves a node with another secret off the ring', async () => {
    const [a, b] = await fleet(openMemoryDatastore(), 2, { secrets: ['one', 'two'] });
    expect(a.peers.ring()).toEqual(['node-0']);
    expect(b.peers.ring()).toEqual(['node-1']);
  });

  it('answers every check when a node stops, takes it off the ring, and back when it answers again', async () => {
    const datastore = openMemoryDatastore();
    const [a, b, c] = await fleet(datastore, 3);
    await load(a.pemba!, RELATIONSHIPS);
    const expected = await answers(a.pemba!);
    c.server.forceShutdown();
    expect(await answers(a.pemba!)).toEqual(expected);
    expect(a.kinds.remote_failed).toBeGreaterThan(0);
    expect(a.peers.ring()).toEqual(['node-0', 'node-1']);
    expect(b.kinds.remote_failed + a.kinds.remote_failed).toBeGreaterThan(0);
    // A new process on the same port.
    const server = new grpc.Server();
    addDispatchService(server, {
      nodeId: 'node-2',
      datastore: datastore.id,
      secret: 'fleet-secret',
      evaluate: subproblemEvaluator(datastore, c.engine),
    });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${c.port}`, grpc.ServerCredentials.createInsecure(), (e) =>
        e ? reject(e) : resolve(),
      ),
    );
    c.server = server;
    const deadline = Date.now() + 5_000;
    while (a.peers.ring().length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(a.peers.ring()).toEqual(['node-0', 'node-1', 'node-2']);
    expect(await answers(a.pemba!)).toEqual(expected);
  });

  it('waits for an owner that is slow but alive, without evaluating its sub-problems twice', async () => {
    const datastore = openMemoryDatastore();
    const [a] = await fleet(datastore, 2, { slowMs: [0, 300], hedgeDelayMs: 20 });
    await load(a.pemba!, ['doc:d1#reader@user:x', 'doc:d2#parent@doc:d1', 'doc:d3#reader@user:cav[ok]']);
    const cases = ['d1', 'd2', 'd3'].flatMap((doc) => ['x', 'y', 'z', 'w', 'v'].map((user) => [doc, user]));
    const got = await readAll(a.pemba!, cases);
    expect(got.map((r) => r.permissionship)).toEqual(
      cases.map(([doc, user]) => (user === 'x' && doc !== 'd3' ? 'HAS_PERMISSION' : 'NO_PERMISSION')),
    );
    expect(a.kinds.remote).toBeGreaterThan(0);
    expect(a.kinds.hedged).toBe(0);
  });

  it('races an owner that stopped answering (hung) with a local evaluation, and keeps the answers', async () => {
    const datastore = openMemoryDatastore();
    const proxies: FreezableProxy[] = [];
    const [a, b] = await fleet(datastore, 2, { hedgeDelayMs: 20, proxies });
    try {
      await load(a.pemba!, ['doc:d1#reader@user:x', 'doc:d2#parent@doc:d1', 'doc:d3#reader@user:cav[ok]']);
      expect(a.peers.ring()).toEqual(['node-0', 'node-1']);
      proxies[1].freeze();
      const cases = Array.from(
        { length: 12 },
        (_, i) =>
          [
            ['d1', 'x', 'HAS_PERMISSION'],
            ['d2', 'x', 'HAS_PERMISSION'],
            ['d2', 'y', 'NO_PERMISSION'],
            ['d3', 'cav', 'CONDITIONAL_PERMISSION'],
          ][i % 4],
      );
      // All at once, before the next greeting takes the hung node off the ring: those it owns are hedged.
      const started = Date.now();
      const got = await readAll(a.pemba!, cases);
      expect(got.map((r) => r.permissionship)).toEqual(cases.map((c) => c[2]));
      expect(a.kinds.hedged).toBeGreaterThan(0);
      // A hedge starts after the delay plus a greeting that goes unanswered (4 delays): well under a second.
      expect(Date.now() - started).toBeLessThan(2_000);
      const deadline = Date.now() + 5_000;
      while (a.peers.ring().length > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(a.peers.ring()).toEqual(['node-0']);
      expect(b.kinds.remote_failed).toBe(0);
    } finally {
      for (const p of proxies) p.close();
    }
  });
});

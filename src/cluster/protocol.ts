/**
 * The dispatch protocol between Pemba nodes: a private gRPC service on the dispatch port, with JSON
 * messages (nodes of one fleet run the same Pemba; nothing outside it speaks this). Every call carries
 * the fleet's shared secret as `authorization: Bearer <secret>`, checked before the message is decoded.
 */
import type * as grpc from '@grpc/grpc-js';
import type { ErrorCode, ErrorReason } from '../errors/index.js';
import type { Membership } from '../engine/membership.js';
import { conditional, MEMBER, NOT_MEMBER } from '../engine/membership.js';
import type { CheckSubproblem, SubproblemOutcome } from '../engine/remote-dispatch.js';

export const SERVICE = 'pemba.dispatch.v1.Dispatch';
export const CHECK_PATH = `/${SERVICE}/Check`;
export const HELLO_PATH = `/${SERVICE}/Hello`;

/** A check sub-problem on the wire; the datastore id makes a node of another fleet refuse it. */
export interface CheckMessage {
  datastore: string;
  revision: string;
  type: string;
  id: string;
  relation: string;
  subject: { type: string; id: string; relation: string };
  context?: Record<string, unknown>;
  depth: number;
  path: [string, number][];
}

/** The owner's answer, or the error its evaluation raised (which the caller raises as its own). */
export type CheckReply =
  | { m: 'member' | 'not-member'; cut: number | null }
  | { m: 'conditional'; missing: readonly string[]; cut: number | null }
  | { error: { code: ErrorCode; message: string; reason?: ErrorReason; metadata?: Record<string, string> } };

export interface HelloReply {
  /** Random per process: how a node recognises itself among the upstream addresses, and a restart. */
  nodeId: string;
  datastore: string;
}

export const encode = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
/** Messages stay raw bytes until the handler has checked the secret. */
export const raw = (bytes: Buffer): Buffer => bytes;
export const decode = <T>(bytes: Buffer): T => JSON.parse(bytes.toString('utf8')) as T;

export function toMessage(datastore: string, p: CheckSubproblem): CheckMessage {
  return {
    datastore,
    revision: p.revision.toString(),
    type: p.type,
    id: p.id,
    relation: p.relation,
    subject: p.subject,
    context: p.context,
    depth: p.depth,
    path: p.path,
  };
}

export function fromMessage(m: CheckMessage): CheckSubproblem {
  if (
    typeof m !== 'object' ||
    m === null ||
    !/^\d+$/.test(String(m.revision)) ||
    ![m.type, m.id, m.relation, m.subject?.type, m.subject?.id, m.subject?.relation].every(
      (s) => typeof s === 'string',
    ) ||
    !Number.isInteger(m.depth) ||
    !Array.isArray(m.path)
  ) {
    throw new TypeError('malformed dispatch message');
  }
  return {
    revision: BigInt(m.revision),
    type: m.type,
    id: m.id,
    relation: m.relation,
    subject: { type: m.subject.type, id: m.subject.id, relation: m.subject.relation },
    context: m.context,
    depth: m.depth,
    path: m.path.map(([k, d]) => [String(k), Number(d)]),
  };
}

export function toReply(o: SubproblemOutcome): CheckReply {
  const cut = o.cut === Infinity ? null : o.cut;
  return o.m.kind === 'conditional' ? { m: 'conditional', missing: o.m.missing, cut } : { m: o.m.kind, cut };
}

/** The outcome a reply carries; throws when it carries an error instead (see fromReplyError). */
export function outcomeOf(r: Exclude<CheckReply, { error: unknown }>): SubproblemOutcome {
  const m: Membership = r.m === 'conditional' ? conditional(r.missing) : r.m === 'member' ? MEMBER : NOT_MEMBER;
  return { m, cut: r.cut === null ? Infinity : r.cut };
}

export function authorizationOf(metadata: grpc.Metadata): string | undefined {
  const v = metadata.get('authorization')[0];
  return typeof v === 'string' ? v : undefined;
}

/**
 * The dispatch protocol between Pemba nodes: a private gRPC service on the dispatch port, with JSON
 * messages (nodes of one fleet run the same Pemba; nothing outside it speaks this). Every call carries
 * the fleet's shared secret as `authorization: Bearer <secret>`, checked before the message is decoded.
 */
import type * as grpc from '@grpc/grpc-js';
import type { ErrorCode, ErrorReason } from '../errors/index.js';
import type { Membership } from '../engine/membership.js';
import { conditional, MEMBER, NOT_MEMBER } from '../engine/membership.js';
import type {
  CheckSubproblem,
  SubjectsOutcome,
  SubjectsSubproblem,
  SubproblemOutcome,
} from '../engine/remote-dispatch.js';
import { SubjectSet } from '../engine/subject-set.js';

export const SERVICE = 'pemba.dispatch.v1.Dispatch';
export const HELLO_PATH = `/${SERVICE}/Hello`;

/** What every sub-problem names on the wire; the datastore id makes a node of another fleet refuse it. */
interface SubproblemMessage {
  datastore: string;
  revision: string;
  primary?: boolean;
  type: string;
  id: string;
  relation: string;
  context?: Record<string, unknown>;
  depth: number;
  path: [string, number][];
}

export interface CheckMessage extends SubproblemMessage {
  subject: { type: string; id: string; relation: string };
}

export interface SubjectsMessage extends SubproblemMessage {
  subjectType: string;
  subjectRelation: string;
}

/** A membership on the wire: true, false, or the missing context parameters of a conditional one. */
type WireMembership = boolean | string[];

export interface ErrorReply {
  error: { code: ErrorCode; message: string; reason?: ErrorReason; metadata?: Record<string, string> };
}

/** The owner's answer, or the error its evaluation raised (which the caller raises as its own). */
export type CheckReply = { m: WireMembership; cut: number | null } | ErrorReply;

export type SubjectsReply =
  | {
      concrete: [string, WireMembership][];
      wildcard?: { m: WireMembership; excluded: [string, WireMembership][] };
      cut: number | null;
    }
  | ErrorReply;

export interface HelloReply {
  /** Random per process: how a node recognises itself among the upstream addresses, and a restart. */
  nodeId: string;
  datastore: string;
}

export const encode = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
/** Messages stay raw bytes until the handler has checked the secret. */
export const raw = (bytes: Buffer): Buffer => bytes;
export const decode = <T>(bytes: Buffer): T => JSON.parse(bytes.toString('utf8')) as T;

const toWire = (m: Membership): WireMembership => (m.kind === 'conditional' ? [...m.missing] : m.kind === 'member');
const fromWire = (m: WireMembership): Membership =>
  Array.isArray(m) ? conditional(m.map(String)) : m === true ? MEMBER : NOT_MEMBER;
const cutToWire = (cut: number) => (cut === Infinity ? null : cut);
const cutFromWire = (cut: number | null) => (cut === null ? Infinity : cut);

function baseMessage(datastore: string, p: CheckSubproblem | SubjectsSubproblem): SubproblemMessage {
  return {
    datastore,
    revision: p.revision.toString(),
    primary: p.primary || undefined,
    type: p.type,
    id: p.id,
    relation: p.relation,
    context: p.context,
    depth: p.depth,
    path: p.path,
  };
}

export const toCheckMessage = (datastore: string, p: CheckSubproblem): CheckMessage => ({
  ...baseMessage(datastore, p),
  subject: p.subject,
});

export const toSubjectsMessage = (datastore: string, p: SubjectsSubproblem): SubjectsMessage => ({
  ...baseMessage(datastore, p),
  subjectType: p.subjectType,
  subjectRelation: p.subjectRelation,
});

const isString = (s: unknown): s is string => typeof s === 'string';

function fromBase(m: SubproblemMessage) {
  if (
    typeof m !== 'object' ||
    m === null ||
    !/^\d+$/.test(String(m.revision)) ||
    ![m.type, m.id, m.relation].every(isString) ||
    !Number.isInteger(m.depth) ||
    !Array.isArray(m.path) ||
    (m.context !== undefined && (typeof m.context !== 'object' || m.context === null))
  ) {
    throw new TypeError('malformed dispatch message');
  }
  return {
    revision: BigInt(m.revision),
    primary: m.primary === true,
    type: m.type,
    id: m.id,
    relation: m.relation,
    context: m.context,
    depth: m.depth,
    path: m.path.map(([k, d]): [string, number] => [String(k), Number(d)]),
  };
}

export function fromCheckMessage(m: CheckMessage): CheckSubproblem {
  const s = m?.subject;
  if (!s || ![s.type, s.id, s.relation].every(isString)) throw new TypeError('malformed dispatch message');
  return { ...fromBase(m), subject: { type: s.type, id: s.id, relation: s.relation } };
}

export function fromSubjectsMessage(m: SubjectsMessage): SubjectsSubproblem {
  if (![m?.subjectType, m?.subjectRelation].every(isString)) throw new TypeError('malformed dispatch message');
  return { ...fromBase(m), subjectType: m.subjectType, subjectRelation: m.subjectRelation };
}

export const toCheckReply = (o: SubproblemOutcome): CheckReply => ({ m: toWire(o.m), cut: cutToWire(o.cut) });

export const fromCheckReply = (r: Exclude<CheckReply, ErrorReply>): SubproblemOutcome => ({
  m: fromWire(r.m),
  cut: cutFromWire(r.cut),
});

export function toSubjectsReply(o: SubjectsOutcome): SubjectsReply {
  const w = o.set.wildcard;
  return {
    concrete: [...o.set.concrete].map(([id, m]) => [id, toWire(m)]),
    wildcard: w ? { m: toWire(w.membership), excluded: [...w.excluded].map(([id, m]) => [id, toWire(m)]) } : undefined,
    cut: cutToWire(o.cut),
  };
}

export function fromSubjectsReply(r: Exclude<SubjectsReply, ErrorReply>): SubjectsOutcome {
  const concrete = new Map(r.concrete.map(([id, m]) => [id, fromWire(m)]));
  const w = r.wildcard;
  const wildcard = w
    ? { membership: fromWire(w.m), excluded: new Map(w.excluded.map(([id, m]) => [id, fromWire(m)])) }
    : null;
  return { set: new SubjectSet(concrete, wildcard), cut: cutFromWire(r.cut) };
}

export function authorizationOf(metadata: grpc.Metadata): string | undefined {
  const v = metadata.get('authorization')[0];
  return typeof v === 'string' ? v : undefined;
}

/** Each kind of sub-problem: its method and how it and its answer cross the wire. */
export const KINDS = {
  check: {
    method: 'Check',
    toMessage: toCheckMessage,
    fromMessage: fromCheckMessage,
    toReply: toCheckReply,
    fromReply: fromCheckReply,
  },
  subjects: {
    method: 'LookupSubjects',
    toMessage: toSubjectsMessage,
    fromMessage: fromSubjectsMessage,
    toReply: toSubjectsReply,
    fromReply: fromSubjectsReply,
  },
} as const;

export type Kind = keyof typeof KINDS;

/**
 * A fleet of `pemba serve` processes over one PostgreSQL cluster (pg-cluster.ts), dispatching to each
 * other: starting and restarting nodes on fixed dispatch and metrics ports, reading their JSON logs,
 * scraping their /metrics (with a strict parser of the Prometheus text exposition format).
 */
import type { v1 } from '@authzed/authzed-node';
import type { PgCluster } from './pg-cluster.js';
import { freePort } from './pg-cluster.js';
import type { ServeProcess } from '../server/serve-process.js';
import { serveProcess } from '../server/serve-process.js';

export const FLEET_KEY = 'fleet-test-key';

export interface FleetNode {
  name: string;
  dispatchPort: number;
  metricsPort: number;
  /** The OTLP endpoint this node exports to (absent: tracing off). */
  otlpEndpoint?: string;
  proc: ServeProcess;
  client: v1.ZedClientInterface;
  nodeId: string;
  /** The node's log, one parsed JSON object per line (lines that are not JSON are skipped). */
  logLines(): Array<Record<string, unknown>>;
}

export interface NodeSpec {
  name: string;
  dispatchPort: number;
  metricsPort: number;
  otlpEndpoint?: string;
  /** Flags of this node alone. */
  args?: string[];
}

export interface FleetOptions {
  cluster: PgCluster;
  /** Every node's dispatch address, in order. */
  upstreams: string[];
  extraArgs?: string[];
}

export async function nodeSpecs(
  names: string[],
  otlpEndpoints?: string[],
  args?: (string[] | undefined)[],
): Promise<NodeSpec[]> {
  const specs: NodeSpec[] = [];
  for (const [i, name] of names.entries()) {
    specs.push({
      name,
      dispatchPort: await freePort(),
      metricsPort: await freePort(),
      otlpEndpoint: otlpEndpoints?.[i],
      args: args?.[i],
    });
  }
  return specs;
}

export const dispatchAddr = (spec: NodeSpec) => `127.0.0.1:${spec.dispatchPort}`;

/** Starts (or restarts, on the same ports) one node of the fleet. */
export async function startNode(spec: NodeSpec, options: FleetOptions): Promise<FleetNode> {
  const { cluster } = options;
  const args = [
    '--grpc-preshared-key',
    FLEET_KEY,
    '--datastore-engine',
    'postgres',
    '--datastore-conn-uri',
    cluster.primary.uri,
    ...cluster.replicas.flatMap((r) => ['--datastore-read-replica-conn-uri', r.uri]),
    '--dispatch-cluster-enabled',
    '--dispatch-cluster-addr',
    dispatchAddr(spec),
    '--dispatch-upstream-addr',
    options.upstreams.join(','),
    '--metrics-enabled',
    '--metrics-addr',
    `127.0.0.1:${spec.metricsPort}`,
    ...(spec.otlpEndpoint
      ? ['--otel-provider', 'otlphttp', '--otel-endpoint', spec.otlpEndpoint, '--otel-sample-ratio', '1']
      : []),
    ...(options.extraArgs ?? []),
    ...(spec.args ?? []),
  ];
  const proc = await serveProcess(args, { readyTimeoutMs: 60_000 });
  const node: FleetNode = {
    ...spec,
    proc,
    client: proc.client(FLEET_KEY),
    nodeId: String(proc.ready.nodeId),
    logLines: () => parseLogLines(proc.logs()),
  };
  return node;
}

export function parseLogLines(text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // A line cut in the middle of a chunk: the next read completes it.
    }
  }
  return out;
}

/** The ids of the peers `node` logged as having joined its ring and not left since. */
export function ringPeers(node: FleetNode): Set<string> {
  const peers = new Set<string>();
  for (const l of node.logLines()) {
    const msg = String(l.msg ?? '');
    if (msg === 'dispatch peer joined the ring') peers.add(String(l.nodeId));
    else if (msg.startsWith('dispatch peer left the ring')) peers.delete(String(l.nodeId));
  }
  return peers;
}

export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  describe?: () => string,
): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${describe ? `\n${describe()}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - start;
}

/** Until every node has every other node on its ring (as its logs tell). */
export async function untilRingsComplete(nodes: FleetNode[], timeoutMs = 15_000): Promise<number> {
  return until(
    'every node to have the others on its dispatch ring',
    () => nodes.every((n) => nodes.every((m) => m === n || ringPeers(n).has(m.nodeId))),
    timeoutMs,
    () => nodes.map((n) => `${n.name} (${n.nodeId}) sees [${[...ringPeers(n)].join(', ')}]`).join('\n'),
  );
}

// ---------------------------------------------------------------------------------------------
// Prometheus text exposition format (version 0.0.4), parsed strictly.

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromFamily {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help?: string;
  samples: PromSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** A sample value as Prometheus reads it (Go's strconv.ParseFloat: NaN and Inf in any case; prom-client writes `Nan`). */
function parseValue(text: string, where: string): number {
  if (/^[+]?inf(inity)?$/i.test(text)) return Infinity;
  if (/^-inf(inity)?$/i.test(text)) return -Infinity;
  if (/^nan$/i.test(text)) return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new Error(`${where}: bad value "${text}"`);
  return Number(text);
}

/** `{a="x",b="y\"z"}` starting at `text[i] === '{'`: the labels and the index after `}`. */
function parseLabels(text: string, i: number, where: string): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  i++; // '{'
  for (;;) {
    if (text[i] === '}') return [labels, i + 1];
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(text.slice(i));
    if (!m) throw new Error(`${where}: bad label name at ${i}`);
    const name = m[0];
    i += name.length;
    if (text[i] !== '=' || text[i + 1] !== '"') throw new Error(`${where}: expected ="... after label ${name}`);
    i += 2;
    let value = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) throw new Error(`${where}: unterminated label value`);
      if (c === '"') break;
      if (c === '\\') {
        const n = text[i + 1];
        if (n === '\\') value += '\\';
        else if (n === '"') value += '"';
        else if (n === 'n') value += '\n';
        else throw new Error(`${where}: bad escape \\${n} in label value`);
        i += 2;
        continue;
      }
      if (c === '\n') throw new Error(`${where}: raw newline in label value`);
      value += c;
      i++;
    }
    i++; // closing quote
    if (name in labels) throw new Error(`${where}: label ${name} given twice`);
    if (name.startsWith('__')) throw new Error(`${where}: reserved label name ${name}`);
    labels[name] = value;
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (text[i] !== '}') throw new Error(`${where}: expected , or } after label ${name}`);
  }
}

/** The family a sample name belongs to (histogram and summary samples carry suffixes). */
function familyOf(sample: string, families: Map<string, PromFamily>): PromFamily | undefined {
  const exact = families.get(sample);
  if (exact) return exact;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sample.endsWith(suffix)) continue;
    const f = families.get(sample.slice(0, -suffix.length));
    if (f && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return f;
  }
  return undefined;
}

/**
 * Parses the text exposition format strictly: every line is a comment, a HELP or TYPE line, or a
 * sample; every sample belongs to a family whose TYPE came before it (its samples together); no
 * family is declared twice and no series appears twice; histograms have cumulative buckets ending in
 * le="+Inf" equal to _count; counters are never negative; the text ends with a newline.
 */
export function parsePrometheusText(text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>();
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('exposition does not end with a newline');
  const lines = text.split('\n');
  lines.pop();
  const seen = new Set<string>();
  const finished = new Set<string>();
  let current: PromFamily | undefined;
  const switchTo = (f: PromFamily | undefined, where: string) => {
    if (f === current) return;
    if (f && finished.has(f.name)) throw new Error(`${where}: samples of ${f.name} are not together`);
    if (current) finished.add(current.name);
    current = f;
  };
  for (const [n, line] of lines.entries()) {
    const where = `line ${n + 1} "${line.slice(0, 120)}"`;
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
      if (!m) continue; // a plain comment
      const [, kind, name, rest = ''] = m;
      if (!METRIC_NAME.test(name)) throw new Error(`${where}: bad metric name`);
      let f = families.get(name);
      if (kind === 'TYPE') {
        if (!TYPES.has(rest.trim())) throw new Error(`${where}: unknown type "${rest}"`);
        if (f && (f.samples.length > 0 || f.type !== 'untyped' || finished.has(name)))
          throw new Error(`${where}: TYPE of ${name} after its samples or given twice`);
        if (!f) families.set(name, (f = { name, type: 'untyped', samples: [] }));
        f.type = rest.trim() as PromFamily['type'];
      } else {
        if (f?.help !== undefined) throw new Error(`${where}: HELP of ${name} given twice`);
        if (!f) families.set(name, (f = { name, type: 'untyped', samples: [] }));
        f.help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      }
      switchTo(f, where);
      continue;
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nameMatch) throw new Error(`${where}: not a sample`);
    const name = nameMatch[0];
    let i = name.length;
    let labels: Record<string, string> = {};
    if (line[i] === '{') [labels, i] = parseLabels(line, i, where);
    const rest = line.slice(i);
    const vm = /^ +(\S+)(?: +(-?\d+))? *$/.exec(rest);
    if (!vm) throw new Error(`${where}: expected " value [timestamp]" after the labels`);
    const value = parseValue(vm[1], where);
    for (const l of Object.keys(labels)) if (!LABEL_NAME.test(l)) throw new Error(`${where}: bad label ${l}`);
    let f = familyOf(name, families);
    if (!f) families.set(name, (f = { name, type: 'untyped', samples: [] }));
    switchTo(f, where);
    const series = `${name}{${Object.entries(labels)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(',')}}`;
    if (seen.has(series)) throw new Error(`${where}: series ${series} appears twice`);
    seen.add(series);
    if (f.type === 'counter' && !(value >= 0)) throw new Error(`${where}: counter ${name} is ${value}`);
    if (f.type === 'histogram' && name === `${f.name}_bucket` && labels.le === undefined)
      throw new Error(`${where}: histogram bucket without le`);
    f.samples.push({ name, labels, value });
  }
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function checkHistogram(f: PromFamily): void {
  const seriesKey = (labels: Record<string, string>) =>
    JSON.stringify(
      Object.entries(labels)
        .filter(([k]) => k !== 'le')
        .sort(),
    );
  const buckets = new Map<string, Array<[number, number]>>();
  const counts = new Map<string, number>();
  for (const s of f.samples) {
    const key = seriesKey(s.labels);
    if (s.name === `${f.name}_bucket`) {
      const list = buckets.get(key) ?? [];
      list.push([parseValue(s.labels.le, `${f.name} le`), s.value]);
      buckets.set(key, list);
    } else if (s.name === `${f.name}_count`) counts.set(key, s.value);
  }
  for (const [key, list] of buckets) {
    for (let i = 1; i < list.length; i++) {
      if (!(list[i][0] > list[i - 1][0])) throw new Error(`${f.name}${key}: buckets not in increasing le order`);
      if (list[i][1] < list[i - 1][1]) throw new Error(`${f.name}${key}: buckets not cumulative`);
    }
    const last = list[list.length - 1];
    if (last[0] !== Infinity) throw new Error(`${f.name}${key}: no le="+Inf" bucket`);
    if (counts.get(key) !== last[1])
      throw new Error(`${f.name}${key}: _count ${counts.get(key)} != +Inf bucket ${last[1]}`);
  }
}

/** The sum of a metric's samples whose labels include `match`. */
export function sumOf(families: Map<string, PromFamily>, sample: string, match: Record<string, string> = {}): number {
  const f = familyOf(sample, families);
  if (!f) return 0;
  return f.samples
    .filter((s) => s.name === sample && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}

/** Scrapes a node's /metrics; throws unless it answers 200 with a text/plain exposition that parses. */
export async function scrape(node: Pick<FleetNode, 'metricsPort' | 'name'>): Promise<Map<string, PromFamily>> {
  const res = await fetch(`http://127.0.0.1:${node.metricsPort}/metrics`);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${node.name} /metrics answered ${res.status}: ${text.slice(0, 200)}`);
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith('text/plain')) throw new Error(`${node.name} /metrics content-type is ${type}`);
  return parsePrometheusText(text);
}

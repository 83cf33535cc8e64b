/**
 * Where the fleet's nodes are: `--dispatch-upstream-addr` is a comma-separated list of host:port, each
 * host an IP address or a DNS name (one name may resolve to every node, as a headless Kubernetes service
 * does). Names are resolved again on every refresh, so nodes that come and go are picked up.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

export interface Upstream {
  host: string;
  port: number;
}

export function parseUpstreams(text: string): Upstream[] {
  const entries = text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e.length > 0);
  if (entries.length === 0) throw new Error('--dispatch-upstream-addr names no node');
  return entries.map((entry) => {
    const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(entry);
    const port = m ? Number(m[3]) : NaN;
    if (!m || port === 0 || port > 65535) {
      throw new Error(`--dispatch-upstream-addr entries must look like host:port, not "${entry}"`);
    }
    return { host: m[1] ?? m[2], port };
  });
}

/** Every address the upstreams name now (`host:port`, IPv6 bracketed), each once, sorted. */
export async function resolveUpstreams(upstreams: readonly Upstream[]): Promise<string[]> {
  const addresses = new Set<string>();
  await Promise.all(
    upstreams.map(async ({ host, port }) => {
      const ips = isIP(host) ? [host] : (await lookup(host, { all: true }).catch(() => [])).map((a) => a.address);
      for (const ip of ips) addresses.add(`${ip.includes(':') ? `[${ip}]` : ip}:${port}`);
    }),
  );
  return [...addresses].sort();
}

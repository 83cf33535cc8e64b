/**
 * SpiceDB's `ipaddress` caveat type: addresses and CIDR prefixes parsed as strictly as Go's `net/netip`
 * (no IPv4 octets with leading zeros, zones only on IPv6), compared by address family and bits.
 */

export interface IpAddress {
  /** 4 bytes for IPv4, 16 for IPv6 (including IPv4-mapped IPv6, a different address from its IPv4). */
  bytes: Uint8Array;
  zone: string;
}

/** Parses an address (`10.0.0.1`, `2001:db8::1`, `fe80::1%eth0`); throws netip-like messages. */
export function parseIpAddress(text: string): IpAddress {
  const fail = (why: string) => new Error(`ParseAddr(${JSON.stringify(text)}): ${why}`);
  if (text === '') throw fail('unable to parse IP');
  const colon = text.indexOf(':');
  const dot = text.indexOf('.');
  if (colon < 0) {
    if (dot < 0) throw fail('unable to parse IP');
    return { bytes: parseV4(text, fail), zone: '' };
  }
  let zone = '';
  let addr = text;
  const pct = text.indexOf('%');
  if (pct >= 0) {
    zone = text.slice(pct + 1);
    addr = text.slice(0, pct);
    if (zone === '') throw fail('zone must be a non-empty string');
  }
  return { bytes: parseV6(addr, fail), zone };
}

function parseV4(s: string, fail: (why: string) => Error): Uint8Array {
  const fields = s.split('.');
  if (fields.length < 4) throw fail('IPv4 address too short');
  if (fields.length > 4) throw fail('IPv4 address too long');
  const out = new Uint8Array(4);
  fields.forEach((f, i) => {
    if (f === '') throw fail('IPv4 field must have at least one digit');
    if (!/^[0-9]+$/.test(f)) throw fail(`unexpected character`);
    if (f.length > 1 && f[0] === '0') throw fail('IPv4 field has octet with leading zero');
    const v = Number(f);
    if (v > 255) throw fail('IPv4 field has value >255');
    out[i] = v;
  });
  return out;
}

function parseV6(s: string, fail: (why: string) => Error): Uint8Array {
  const out = new Uint8Array(16);
  const halves = s.split('::');
  if (halves.length > 2) throw fail('multiple :: in address');
  const groups = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const words: number[] = [];
  const all = [...head, ...tail];
  const toWords = (list: string[], last: boolean) => {
    const ws: number[] = [];
    list.forEach((g, i) => {
      if (last && i === list.length - 1 && g.includes('.')) {
        const v4 = parseV4(g, fail);
        ws.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
        return;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(g))
        throw fail(g === '' ? 'each colon-separated field must have at least one digit' : 'invalid IPv6 field');
      ws.push(parseInt(g, 16));
    });
    return ws;
  };
  if (all.length === 0 && halves.length !== 2) throw fail('unable to parse IP');
  const headWords = toWords(head, halves.length === 1);
  const tailWords = toWords(tail, true);
  if (halves.length === 2) {
    const missing = 8 - headWords.length - tailWords.length;
    if (missing < 1) throw fail('address string too long');
    words.push(...headWords, ...new Array<number>(missing).fill(0), ...tailWords);
  } else {
    if (headWords.length < 8) throw fail('address string too short');
    if (headWords.length > 8) throw fail('address string too long');
    words.push(...headWords);
  }
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** Go's `netip.Addr.String()`: dotted IPv4, `::ffff:1.2.3.4` for mapped IPv4, RFC 5952 IPv6. */
export function formatIpAddress(ip: IpAddress): string {
  const b = ip.bytes;
  if (b.length === 4) return b.join('.');
  const words = Array.from({ length: 8 }, (_, i) => (b[2 * i] << 8) | b[2 * i + 1]);
  const zone = ip.zone ? `%${ip.zone}` : '';
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}${zone}`;
  }
  // The longest run of two or more zero words becomes `::` (the first, on ties).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':');
  const text = best < 0 ? hex(words) : `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
  return text + zone;
}

export interface IpPrefix {
  bytes: Uint8Array;
  bits: number;
}

/** Parses a CIDR prefix (`10.0.0.0/8`); host bits may be set, as in Go. */
export function parseIpPrefix(text: string): IpPrefix {
  const slash = text.lastIndexOf('/');
  if (slash < 0) throw new Error(`netip.ParsePrefix(${JSON.stringify(text)}): no '/'`);
  const ip = parseIpAddress(text.slice(0, slash));
  if (ip.zone) throw new Error(`netip.ParsePrefix(${JSON.stringify(text)}): IPv6 zones cannot be present in a prefix`);
  const bitsText = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]*)$/.test(bitsText))
    throw new Error(`netip.ParsePrefix(${JSON.stringify(text)}): bad bits after slash`);
  const bits = Number(bitsText);
  if (bits > ip.bytes.length * 8)
    throw new Error(`netip.ParsePrefix(${JSON.stringify(text)}): prefix length out of range`);
  return { bytes: ip.bytes, bits };
}

/** Whether the prefix holds the address: same family, no zone, equal leading bits. */
export function prefixContains(prefix: IpPrefix, ip: IpAddress): boolean {
  if (ip.zone || ip.bytes.length !== prefix.bytes.length) return false;
  let bits = prefix.bits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((ip.bytes[i] & mask) !== (prefix.bytes[i] & mask)) return false;
  }
  return true;
}

/**
 * A strict parser of the Prometheus text exposition format (version 0.0.4), for tests: every line is
 * `# HELP name text`, `# TYPE name type`, or `name{label="value",...} value`; anything else throws.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  help: Map<string, string>;
  type: Map<string, string>;
  samples: Sample[];
  /** The value of the one sample with this name and exactly these labels; undefined if none. */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export function parsePrometheusText(text: string): Exposition {
  if (!text.endsWith('\n')) throw new Error('exposition does not end with a newline');
  const help = new Map<string, string>();
  const type = new Map<string, string>();
  const samples: Sample[] = [];
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((line, i) => {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (!m) throw new Error(`bad comment, ${where}`);
      const [, kind, name, rest] = m;
      if (!NAME.test(name)) throw new Error(`bad metric name, ${where}`);
      if (kind === 'HELP') {
        if (help.has(name)) throw new Error(`second HELP for ${name}, ${where}`);
        help.set(name, rest);
      } else {
        if (!TYPES.has(rest)) throw new Error(`bad type, ${where}`);
        if (type.has(name)) throw new Error(`second TYPE for ${name}, ${where}`);
        type.set(name, rest);
      }
      return;
    }
    samples.push(parseSample(line, where));
  });
  for (const s of samples) {
    const family = familyOf(s.name, type);
    if (!family) throw new Error(`sample ${s.name} has no TYPE line`);
  }
  return {
    help,
    type,
    samples,
    value(name, labels = {}) {
      const found = samples.filter((s) => s.name === name && sameLabels(s.labels, labels));
      if (found.length > 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
      return found[0]?.value;
    },
  };
}

function parseSample(line: string, where: string): Sample {
  let i = 0;
  while (i < line.length && line[i] !== '{' && line[i] !== ' ') i++;
  const name = line.slice(0, i);
  if (!NAME.test(name)) throw new Error(`bad sample name, ${where}`);
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      const eq = line.indexOf('=', i);
      if (eq < 0) throw new Error(`bad label, ${where}`);
      const labelName = line.slice(i, eq);
      if (!LABEL_NAME.test(labelName)) throw new Error(`bad label name ${labelName}, ${where}`);
      if (line[eq + 1] !== '"') throw new Error(`unquoted label value, ${where}`);
      let j = eq + 2;
      let value = '';
      for (;;) {
        const c = line[j];
        if (c === undefined) throw new Error(`unterminated label value, ${where}`);
        if (c === '"') break;
        if (c === '\\') {
          const e = line[j + 1];
          if (e === 'n') value += '\n';
          else if (e === '\\' || e === '"') value += e;
          else throw new Error(`bad escape, ${where}`);
          j += 2;
        } else {
          value += c;
          j++;
        }
      }
      if (labelName in labels) throw new Error(`repeated label ${labelName}, ${where}`);
      labels[labelName] = value;
      i = j + 1;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw new Error(`expected , or } after a label, ${where}`);
    }
    i++;
  }
  if (line[i] !== ' ') throw new Error(`expected a space before the value, ${where}`);
  const rest = line.slice(i + 1).split(' ');
  if (rest.length > 2) throw new Error(`trailing text, ${where}`);
  const value = parseValue(rest[0], where);
  if (rest.length === 2 && !/^-?\d+$/.test(rest[1])) throw new Error(`bad timestamp, ${where}`);
  return { name, labels, value };
}

function parseValue(text: string, where: string): number {
  // Prometheus parses values with Go's strconv.ParseFloat, which takes NaN and Inf in any case
  // (prom-client writes `Nan` for the event-loop lag before its first sample).
  if (/^\+?inf$/i.test(text)) return Infinity;
  if (/^-inf$/i.test(text)) return -Infinity;
  if (/^nan$/i.test(text)) return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad value, ${where}`);
  return Number(text);
}

/** The metric family a sample belongs to (a histogram's `_bucket`, `_sum`, `_count` included). */
function familyOf(name: string, type: Map<string, string>): string | undefined {
  if (type.has(name)) return name;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      const t = type.get(base);
      if (t === 'histogram' || (t === 'summary' && suffix !== '_bucket')) return base;
    }
  }
  return undefined;
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

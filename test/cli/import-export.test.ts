/**
 * `pemba import` and `pemba export` against a real server (in-process, and once as child
 * processes): round trips in both formats, line-numbered errors with nothing imported, the
 * progress bar and the summary line.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { v1 } from '@authzed/authzed-node';
import { afterAll, describe, expect, it } from 'vitest';
import { exportCommand } from '../../src/cli/export.js';
import type { ExportOptions } from '../../src/cli/export.js';
import { importCommand } from '../../src/cli/import.js';
import type { ImportOptions } from '../../src/cli/import.js';
import { formatRate, startProgress, summaryLine } from '../../src/cli/progress.js';
import { formatOf, formatRelationshipLine, parseJsonRelationship } from '../../src/cli/relationship-file.js';
import { parseRelationship } from '../../src/relationships/relationship-string.js';
import { KEY, rel, startTestServer } from '../server/harness.js';
import type { TestServer } from '../server/harness.js';
import { pembaArgs, REPO } from '../server/serve-process.js';

const dir = mkdtempSync(join(tmpdir(), 'pemba-import-export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SCHEMA = `use expiration

definition user {}

caveat on_level(level int, required int) {
  level >= required
}

definition group {
  relation member: user | group#member
}

definition doc {
  relation owner: user
  relation reader: user | user:* | group#member | user with on_level | user with expiration
  permission view = reader + owner
}`;

/** n relationships of every kind the text and JSON formats carry. */
function relationships(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    const kinds = [
      `doc:d${i}#owner@user:u${i % 97}`,
      `doc:d${i}#reader@group:g${i % 13}#member`,
      `group:g${i % 13}#member@user:m${i}`,
      `doc:d${i}#reader@user:*`,
      `doc:d${i}#reader@user:c${i}[on_level:{"required":${i % 5}}]`,
      `doc:d${i}#reader@user:e${i}[expiration:2031-0${1 + (i % 9)}-01T12:30:00Z]`,
      `doc:path/with|odd=chars+${i}#reader@user:x-${i}`,
    ];
    for (const k of kinds) if (out.length < n) out.push(k);
  }
  return out;
}

const sorted = (lines: string[]) => [...lines].sort();

interface Captured {
  out: string[];
  err: string[];
}
function io(tty = false) {
  const c: Captured & { progress: string } = { out: [], err: [], progress: '' };
  return {
    captured: c,
    io: {
      out: (l: string) => c.out.push(l),
      err: (l: string) => c.err.push(l),
      progress: {
        isTTY: tty,
        columns: 100,
        write: (t: string) => {
          c.progress += t;
        },
      },
    },
  };
}

function sink() {
  let text = '';
  const stdout = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  let err = '';
  return {
    stdout,
    stderr: {
      write: (t: string) => {
        err += t;
      },
    },
    text: () => text,
    err: () => err,
  };
}

async function withServer<T>(
  flags: Record<string, string>,
  fn: (t: TestServer, opts: ImportOptions & ExportOptions) => Promise<T>,
): Promise<T> {
  const t = await startTestServer(flags);
  try {
    await t.client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
    return await fn(t, { endpoint: t.endpoint, token: KEY, insecure: true });
  } finally {
    await t.close();
  }
}

async function exported(opts: ExportOptions): Promise<string[]> {
  const s = sink();
  expect(await exportCommand(opts, s), s.err()).toBe(0);
  return s.text().split('\n').filter(Boolean);
}

describe('pemba import / pemba export', () => {
  describe.each([
    ['memory', {}],
    ['sqlite', { datastoreEngine: 'sqlite', datastoreConnUri: join(dir, 'round-trip.db') }],
  ])('round trip on %s', (_name, flags) => {
    it('text in, text and JSON lines out, JSON lines back in: the same relationships', async () => {
      const rels = relationships(2345);
      const file = join(dir, `in-${_name}.txt`);
      // Comments and blank lines are skipped; batches of 1000 cross them.
      writeFileSync(
        file,
        [
          '// exported for a test',
          '',
          ...rels.slice(0, 1200),
          '   // indented comment',
          '',
          ...rels.slice(1200),
          '',
        ].join('\n'),
      );
      await withServer(flags, async (t, opts) => {
        const { captured, io: cio } = io();
        expect(await importCommand(file, opts, cio), captured.err.join('\n')).toBe(0);
        expect(captured.out).toHaveLength(1);
        expect(captured.out[0]).toMatch(/^imported 2345 relationships in \d+\.\d s \([\d,.]+\/s\)$/);

        // Export canonicalises: compare with the canonical form of what went in.
        const canonical = sorted(rels.map((r) => formatRelationshipLine(parseRelationship(r), 'text')));
        expect(sorted(await exported(opts))).toEqual(canonical);

        const jsonFile = join(dir, `out-${_name}.jsonl`);
        const s = sink();
        expect(await exportCommand({ ...opts, output: jsonFile }, s), s.err()).toBe(0);
        expect(s.err()).toMatch(/^exported 2345 relationships in \d+\.\d s/);
        const jsonLines = readFileSync(jsonFile, 'utf8').split('\n').filter(Boolean);
        expect(jsonLines).toHaveLength(2345);
        expect(jsonLines.map((l) => formatRelationshipLine(parseJsonRelationship(l), 'text')).sort()).toEqual(
          canonical,
        );

        // Into an empty server from the JSON lines file.
        await t.client.promises.deleteRelationships(
          v1.DeleteRelationshipsRequest.create({ relationshipFilter: { resourceType: 'doc' } }),
        );
        await t.client.promises.deleteRelationships(
          v1.DeleteRelationshipsRequest.create({ relationshipFilter: { resourceType: 'group' } }),
        );
        expect(await exported(opts)).toEqual([]);
        const again = io();
        expect(
          await importCommand(jsonFile, { ...opts, batchSize: 100 }, again.io),
          again.captured.err.join('\n'),
        ).toBe(0);
        expect(sorted(await exported({ ...opts, format: 'text' }))).toEqual(canonical);
      });
    }, 60_000);
  });

  it("imports a validation file's relationships block", async () => {
    const file = join(dir, 'validation.yaml');
    writeFileSync(
      file,
      `schema: |-
  definition user {}
relationships: |-
  // a comment
  doc:readme#owner@user:ann

  doc:readme#reader@group:eng#member
assertions:
  assertTrue:
    - doc:readme#view@user:ann
`,
    );
    await withServer({}, async (_t, opts) => {
      const { captured, io: cio } = io();
      expect(await importCommand(file, opts, cio), captured.err.join('\n')).toBe(0);
      expect(captured.out[0]).toMatch(/^imported 2 relationships in/);
      expect(sorted(await exported(opts))).toEqual(['doc:readme#owner@user:ann', 'doc:readme#reader@group:eng#member']);
    });
  });

  describe('a bad line', () => {
    const good = relationships(2600);
    const cases: Array<[string, string, string, RegExp]> = [
      [
        'text syntax',
        'in.txt',
        'doc:d1#reader@user',
        /in\.txt:2502: invalid relationship string `doc:d1#reader@user`: subject `user` needs the form type:id/,
      ],
      [
        'unknown relation',
        'in.txt',
        'doc:d1#writer@user:ann',
        /in\.txt:2502: relation\/permission `writer` not found under definition `doc`/,
      ],
      [
        'subject type not allowed',
        'in.txt',
        'group:g1#member@doc:d1',
        /in\.txt:2502: subjects of type `doc` are not allowed on relation `group#member`/,
      ],
      ['JSON syntax', 'in.jsonl', '{"resource":{"type":"doc","id":"x"},', /in\.jsonl:2502: not valid JSON/],
      [
        'JSON shape',
        'in.jsonl',
        '{"resource":{"type":"doc","id":"x"},"relation":"reader","subject":{"type":"user","name":"ann"}}',
        /in\.jsonl:2502: unknown field "name" in "subject"; expected "type", "id", "relation"/,
      ],
      [
        'JSON id',
        'in.jsonl',
        '{"resource":{"type":"doc","id":"a b"},"relation":"reader","subject":{"type":"user","id":"ann"}}',
        /in\.jsonl:2502: resource object id `a b` does not match regex pattern/,
      ],
    ];
    it.each(cases)(
      '%s: names the line, and nothing is imported',
      async (_name, fileName, bad, message) => {
        const format = formatOf(fileName);
        const lines = good.map((r) => formatRelationshipLine(parseRelationship(r), format));
        lines.splice(2501, 0, bad); // line 2502, in the third batch: two have been sent already
        const file = join(dir, fileName);
        writeFileSync(file, `${lines.join('\n')}\n`);
        await withServer({}, async (_t, opts) => {
          const { captured, io: cio } = io();
          expect(await importCommand(file, opts, cio)).toBe(1);
          expect(captured.out).toEqual([]);
          expect(captured.err[0]).toMatch(message);
          expect(captured.err[1]).toBe('nothing was imported');
          expect(await exported(opts)).toEqual([]);
        });
      },
      30_000,
    );

    it('a relationship the server refuses (already there) fails the whole import', async () => {
      const file = join(dir, 'dup.txt');
      writeFileSync(file, `${good.slice(0, 2500).join('\n')}\n${good[1234]}\n`);
      await withServer({}, async (_t, opts) => {
        const { captured, io: cio } = io();
        expect(await importCommand(file, opts, cio)).toBe(1);
        expect(captured.err[0]).toMatch(
          /^error: ALREADY_EXISTS: could not CREATE relationship `group:g7#member@user:m176`, as it already existed/,
        );
        expect(captured.err[1]).toMatch(/nothing was imported/);
        expect(await exported(opts)).toEqual([]);
      });
    });

    it('no schema, no server, no token: clear errors', async () => {
      const file = join(dir, 'one.txt');
      writeFileSync(file, 'doc:1#reader@user:ann\n');
      const t = await startTestServer();
      try {
        const noSchema = io();
        expect(await importCommand(file, { endpoint: t.endpoint, token: KEY, insecure: true }, noSchema.io)).toBe(1);
        expect(noSchema.captured.err[0]).toMatch(/the server has no schema yet: write one first/);
        const badKey = io();
        expect(await importCommand(file, { endpoint: t.endpoint, token: 'wrong', insecure: true }, badKey.io)).toBe(1);
        expect(badKey.captured.err[0]).toMatch(/^error: UNAUTHENTICATED/);
      } finally {
        await t.close();
      }
      const noToken = io();
      expect(await importCommand(file, { endpoint: '127.0.0.1:1', insecure: true }, noToken.io)).toBe(2);
      expect(noToken.captured.err[0]).toMatch(/a token is required: pass --token or set PEMBA_TOKEN/);
      const down = io();
      expect(await importCommand(file, { endpoint: '127.0.0.1:1', token: KEY, insecure: true }, down.io)).toBe(1);
      expect(down.captured.err[0]).toMatch(/^error: UNAVAILABLE: .*is a server listening on 127\.0\.0\.1:1\?/);
      const s = sink();
      expect(await exportCommand({ endpoint: '127.0.0.1:1', token: KEY }, s)).toBe(1);
      expect(s.err()).toMatch(/UNAVAILABLE.*For a plaintext server, pass --insecure/);
    }, 30_000);
  });

  it("is not cut off by the server's --request-timeout, however long it takes (nor is the export)", async () => {
    await withServer({ requestTimeout: '300ms' }, async (t) => {
      const response = await new Promise<v1.ImportBulkRelationshipsResponse>((resolve, reject) => {
        const stream = t.client.importBulkRelationships((err, value) => (err ? reject(err) : resolve(value!)));
        let i = 0;
        const next = () => {
          stream.write(
            v1.ImportBulkRelationshipsRequest.create({ relationships: [rel(`doc:slow${i}#owner@user:ann`)] }),
          );
          if (++i < 4) setTimeout(next, 150);
          else stream.end();
        };
        next();
      });
      expect(response.numLoaded).toBe('4');
      const exportStream = t.client.exportBulkRelationships(
        v1.ExportBulkRelationshipsRequest.create({ optionalLimit: 1 }),
      );
      let pages = 0;
      for await (const _page of exportStream as AsyncIterable<v1.ExportBulkRelationshipsResponse>) {
        pages++;
        await new Promise((r) => setTimeout(r, 120));
      }
      expect(pages).toBe(4);
    });
  });

  it('draws a progress bar in place on a terminal', async () => {
    const file = join(dir, 'progress.txt');
    writeFileSync(file, `${relationships(5000).join('\n')}\n`);
    await withServer({}, async (_t, opts) => {
      const { captured, io: cio } = io(true);
      expect(await importCommand(file, { ...opts, batchSize: 50 }, cio)).toBe(0);
      // eslint-disable-next-line no-control-regex, no-regex-spaces -- the terminal's escape codes, spaced as printed
      expect(captured.progress).toMatch(/\r\[#*\.*\] +\d+%  importing [\d,]+ relationships  [\d,.]+\/s\x1b\[K/);
      expect(captured.progress.endsWith('\r\x1b[K')).toBe(true); // cleared before the summary
      expect(captured.out[0]).toMatch(/^imported 5000 relationships/);
    });
  }, 30_000);
});

describe('relationship files', () => {
  it('chooses the format by --format, else by extension', () => {
    expect(formatOf('a.jsonl')).toBe('jsonl');
    expect(formatOf('a.NDJSON')).toBe('jsonl');
    expect(formatOf('a.txt')).toBe('text');
    expect(formatOf('a.yaml')).toBe('text');
    expect(formatOf(undefined)).toBe('text');
    expect(formatOf('a.txt', 'jsonl')).toBe('jsonl');
    expect(() => formatOf('a.txt', 'csv')).toThrow(/--format must be one of text, jsonl/);
  });

  it('round-trips every field through JSON lines', () => {
    for (const text of [
      'doc:1#reader@user:ann',
      'doc:1#reader@group:eng#member',
      'doc:1#reader@user:*',
      'doc:1#reader@user:ann[c:{"a":[1,{"b":"x"}]}][expiration:2030-01-01T00:00:00.5Z]',
    ]) {
      const line = formatRelationshipLine(parseRelationship(text), 'jsonl');
      expect(formatRelationshipLine(parseJsonRelationship(line), 'text')).toBe(
        formatRelationshipLine(parseRelationship(text), 'text'),
      );
    }
    expect(JSON.parse(formatRelationshipLine(parseRelationship('doc:1#reader@group:eng#member[c]'), 'jsonl'))).toEqual({
      resource: { type: 'doc', id: '1' },
      relation: 'reader',
      subject: { type: 'group', id: 'eng', relation: 'member' },
      caveat: { name: 'c' },
    });
    expect(() => parseJsonRelationship('[]')).toThrow(/the line must be a JSON object/);
    expect(() =>
      parseJsonRelationship('{"resource":{"type":"doc","id":"1"},"relation":"r","subject":{"type":"user","id":7}}'),
    ).toThrow(/"subject.id" must be a non-empty string/);
    expect(() =>
      parseJsonRelationship(
        '{"resource":{"type":"doc","id":"1"},"relation":"r","subject":{"type":"user","id":"a"},"expiresAt":"tomorrow"}',
      ),
    ).toThrow(/"expiresAt" must be an RFC 3339 timestamp/);
  });

  it('summarises as one line', () => {
    expect(summaryLine('imported', 1_000_000, 42_100)).toBe('imported 1000000 relationships in 42.1 s (23,800/s)');
    expect(summaryLine('exported', 1, 0)).toBe('exported 1 relationship in 0.0 s (1,000/s)');
    expect(formatRate(0, 10)).toBe('0');
    expect(formatRate(123_456_789, 1000)).toBe('123,000,000');
  });

  it('draws nothing when not on a terminal', () => {
    let written = '';
    const p = startProgress(
      {
        isTTY: false,
        write: (t: string) => {
          written += t;
        },
      },
      'importing',
    );
    p.update(10, 0.5);
    p.clear();
    expect(written).toBe('');
  });
});

describe('pemba import / export commands (child processes)', () => {
  it('are registered, read PEMBA_TOKEN and print the summary line when not on a terminal', async () => {
    const run = promisify(execFile);
    const file = join(dir, 'cli.jsonl');
    writeFileSync(
      file,
      relationships(3)
        .map((r) => formatRelationshipLine(parseRelationship(r), 'jsonl'))
        .join('\n'),
    );
    await withServer({}, async (_t, opts) => {
      const env = { ...process.env, PEMBA_TOKEN: KEY };
      const imp = await run(process.execPath, pembaArgs(['import', '--endpoint', opts.endpoint, '--insecure', file]), {
        cwd: REPO,
        env,
      });
      expect(imp.stdout).toMatch(/^imported 3 relationships in \d+\.\d s \([\d,.]+\/s\)\n$/);
      expect(imp.stderr).toBe('');
      const exp = await run(
        process.execPath,
        pembaArgs(['export', '--endpoint', opts.endpoint, '--insecure', '--format', 'text']),
        { cwd: REPO, env },
      );
      expect(exp.stdout.split('\n').filter(Boolean).sort()).toEqual(sorted(relationships(3)));
      expect(exp.stderr).toMatch(/^exported 3 relationships in/);
      const help = await run(process.execPath, pembaArgs(['import', '--help']), { cwd: REPO });
      expect(help.stdout).toContain('"subject":{"type":"group","id":"eng","relation":"member"}');
      expect(help.stdout).toContain('PEMBA_TOKEN');
    });
  }, 60_000);
});

/**
 * `pemba check RESOURCE PERMISSION SUBJECT [--explain]`: answered from a validation file and by a
 * running server, the same answer and the same tree (zed's `--explain` shape) either way.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerCheck } from '../../src/cli/check.js';
import { toValidationYaml } from '../../src/playground/engine.js';
import { EXAMPLES } from '../../src/playground/examples.js';
import { capture, connection } from '../cli/client-harness.js';
import { startTestServer, update, type TestServer } from '../server/harness.js';

const dir = mkdtempSync(join(tmpdir(), 'pemba-check-'));
const documents = EXAMPLES.find((e) => e.id === 'documents')!;
const caveats = EXAMPLES.find((e) => e.id === 'caveats')!;
const documentsFile = join(dir, 'documents.yaml');
const caveatsFile = join(dir, 'caveats.yaml');
writeFileSync(documentsFile, toValidationYaml(documents.state));
writeFileSync(caveatsFile, toValidationYaml(caveats.state));

async function pemba(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const io = capture();
  const program = new Command('pemba').exitOverride().configureOutput({
    writeOut: (t) => io.out(t.trimEnd()),
    writeErr: (t) => io.err(t.trimEnd()),
  });
  registerCheck(program, io);
  const saved = process.exitCode;
  process.exitCode = undefined;
  let code: number;
  try {
    await program.parseAsync(['check', ...args], { from: 'user' });
    code = Number(process.exitCode ?? 0);
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    code = error.exitCode;
  } finally {
    process.exitCode = saved;
  }
  return { code, out: io.lines, err: io.errors };
}

const DAVE_TREE = [
  'true',
  '✓ document:roadmap view (permission)',
  '├── ⨉ document:roadmap edit (permission)',
  '│   ├── ⨉ document:roadmap owner (relation)',
  '│   ├── ⨉ document:roadmap editor (relation)',
  '│   └── ⨉ folder:engineering manage (permission)',
  '│       ├── ⨉ folder:engineering owner (relation)',
  '│       └── ⨉ folder:company manage (permission)',
  '│           └── ⨉ folder:company owner (relation)',
  '├── ⨉ document:roadmap viewer (relation)',
  '├── ✓ folder:engineering view (permission)',
  '│   └── ✓ folder:engineering viewer (relation)',
  '│       └── user:dave',
  '└── ⨉ document:roadmap banned (relation)',
];

describe('pemba check --file', () => {
  it('answers from a validation file, with the evaluation tree', async () => {
    expect(await pemba(['document:roadmap', 'view', 'user:dave', '--explain', '--file', documentsFile])).toEqual({
      code: 0,
      out: DAVE_TREE,
      err: [],
    });
    expect(await pemba(['document:roadmap', 'view', 'user:eve', '--file', documentsFile])).toEqual({
      code: 0,
      out: ['false'],
      err: [],
    });
    const denied = await pemba([
      'document:roadmap',
      'view',
      'user:eve',
      '--error-on-no-permission',
      '--file',
      documentsFile,
    ]);
    expect(denied.code).toBe(1);
  });

  it('takes a caveat context; without it the answer is caveated', async () => {
    const missing = await pemba(['server:db1', 'ssh', 'user:ann', '--explain', '--file', caveatsFile]);
    expect(missing.out).toEqual([
      'caveated',
      '? server:db1 ssh (permission) [caveat allowed_ip]',
      '├── ⨉ server:db1 owner (relation)',
      '└── ? server:db1 operator (relation) [caveat allowed_ip]',
    ]);
    expect(missing.err).toEqual(['missing caveat context: user_ip (give it with --caveat-context)']);
    const given = await pemba([
      'server:db1',
      'ssh',
      'user:ann',
      '--caveat-context',
      '{"user_ip":"10.20.0.9"}',
      '--file',
      caveatsFile,
    ]);
    expect(given.out).toEqual(['true']);
  });

  it('refuses bad arguments and broken files with exit code 2', async () => {
    expect((await pemba(['document', 'view', 'user:dave', '--file', documentsFile])).code).toBe(2);
    expect((await pemba(['document:roadmap', 'view', 'user:dave', '--file', join(dir, 'missing.yaml')])).code).toBe(2);
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'schema: |-\n  definition user {\nrelationships: ""\n');
    const r = await pemba(['document:roadmap', 'view', 'user:dave', '--file', broken]);
    expect(r.code).toBe(2);
    expect(r.err.at(-1)).toBe(`error: ${broken} has no schema that compiles`);
  });
});

describe('pemba check against a server', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
    await t.client.promises.writeSchema({ schema: documents.state.schema });
    await t.client.promises.writeRelationships({
      updates: documents.state.relationships.split('\n').map((line) => update('TOUCH', line)),
      optionalPreconditions: [],
    });
  });
  afterAll(() => t?.close());

  it('prints the same tree as from the file', async () => {
    const r = await pemba([
      'document:roadmap',
      'view',
      'user:dave',
      '--explain',
      '--consistency-full',
      ...connection(t.endpoint),
    ]);
    expect(r).toEqual({ code: 0, out: DAVE_TREE, err: [] });
  });
});

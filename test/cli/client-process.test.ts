/**
 * The client commands as the real `pemba` binary runs them (child processes against an in-process
 * server): registered in main.ts (and `schema read|write` beside `schema compile`), PEMBA_TOKEN,
 * stdin, exit codes, and `relationship watch` stopped by SIGINT.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY, startTestServer } from '../server/harness.js';
import type { TestServer } from '../server/harness.js';
import { pembaArgs, REPO } from '../server/serve-process.js';
import { SCHEMA, until } from './client-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'pemba-client-process-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function pemba(args: string[], stdin?: string, env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      pembaArgs(args),
      { cwd: REPO, env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
    child.stdin!.end(stdin ?? '');
  });
}

describe('pemba client commands (child processes)', () => {
  let t: TestServer;
  let env: Record<string, string>;
  beforeAll(async () => {
    t = await startTestServer();
    env = { PEMBA_TOKEN: KEY, PEMBA_ENDPOINT: t.endpoint };
  });
  afterAll(() => t.close());

  it('are registered; schema, relationship, permission and backup work end to end', async () => {
    const help = await pemba(['--help']);
    for (const command of ['schema', 'relationship', 'permission', 'backup'])
      expect(help.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    const schemaHelp = await pemba(['schema', '--help']);
    expect(schemaHelp.stdout).toMatch(/compile/);
    expect(schemaHelp.stdout).toMatch(/read/);
    expect(schemaHelp.stdout).toMatch(/write/);

    const schemaFile = join(dir, 'schema.zed');
    writeFileSync(schemaFile, SCHEMA);
    expect(await pemba(['schema', 'write', '--insecure', schemaFile], undefined, env)).toEqual({
      code: 0,
      stdout: '',
      stderr: '',
    });
    const created = await pemba(
      ['relationship', 'create', 'document:1', 'viewer', 'user:alice', '--insecure'],
      undefined,
      env,
    );
    expect(created.code, created.stderr).toBe(0);
    const token = created.stdout.trim();
    const check = await pemba(
      ['permission', 'check', 'document:1', 'view', 'user:alice', '--consistency-at-least', token, '--insecure'],
      undefined,
      env,
    );
    expect(check).toEqual({ code: 0, stdout: 'true\n', stderr: '' });
    const touched = await pemba(
      ['relationship', 'touch', '--insecure'],
      'document:2 viewer group:eng#member\ngroup:eng member user:bo\n',
      env,
    );
    expect(touched.code, touched.stderr).toBe(0);

    const backup = join(dir, 'out.backup');
    const created2 = await pemba(['backup', 'create', backup, '--insecure'], undefined, env);
    expect(created2.code, created2.stderr).toBe(0);
    expect(created2.stderr).toMatch(/^backed up 3 relationships in/);
    const parsed = await pemba(['backup', 'parse-relationships', backup]);
    expect(parsed.stdout.split('\n').filter(Boolean).sort()).toEqual([
      'document:1#viewer@user:alice',
      'document:2#viewer@group:eng#member',
      'group:eng#member@user:bo',
    ]);

    // Exit codes: 2 for a bad argument, 1 for a failed call, 1 for --error-on-no-permission.
    const bad = await pemba(['permission', 'check', 'document', 'view', 'user:a', '--insecure'], undefined, env);
    expect(bad).toMatchObject({ code: 2, stdout: '' });
    expect(bad.stderr).toBe('error: resource `document` must have the form type:id (e.g. document:readme)\n');
    const denied = await pemba(
      [
        'permission',
        'check',
        'document:1',
        'view',
        'user:zoe',
        '--error-on-no-permission',
        '--consistency-full',
        '--insecure',
      ],
      undefined,
      env,
    );
    expect(denied).toEqual({ code: 1, stdout: 'false\n', stderr: '' });
  }, 120_000);

  it('relationship watch runs until SIGINT, then exits 0 with the revision to resume from', async () => {
    const start = (await t.client.promises.readSchema({})).readAt!.token;
    const child = spawn(process.execPath, pembaArgs(['relationship', 'watch', '--revision', start, '--insecure']), {
      cwd: REPO,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await until(() => stderr.includes('Ctrl-C to stop'), 60_000);
    await pemba(['relationship', 'create', 'document:9', 'viewer', 'user:w', '--insecure'], undefined, env);
    await until(() => stdout.includes('document:9 viewer user:w'), 30_000);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(stdout).toBe('TOUCHED document:9 viewer user:w\n');
    expect(stderr).toMatch(/watch stopped; resume with --revision \S+\n$/);
  }, 120_000);
});

/**
 * `pemba serve` as a child process run by node itself (no npx or tsx launcher in between), so the
 * child's pid is the server's and SIGKILL reaches it. Works from any working directory.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { v1 } from '@authzed/authzed-node';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const MAIN = resolve(REPO, 'src/cli/main.ts');
const TSX = pathToFileURL(resolve(REPO, 'node_modules/tsx/dist/loader.mjs')).href;

/** Arguments for `node` to run the `pemba` CLI from source. */
export const pembaArgs = (args: string[]) => ['--import', TSX, MAIN, ...args];

export interface ServeProcess {
  child: ChildProcess;
  pid: number;
  endpoint: string;
  ready: Record<string, unknown>;
  logs(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  client(key: string): v1.ZedClientInterface;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const running = new Set<ServeProcess>();

/** SIGKILLs every server still running (for afterEach/afterAll). */
export async function killAll(): Promise<void> {
  await Promise.all([...running].map((s) => s.kill('SIGKILL')));
}

export interface ServeOptions {
  cwd?: string;
  env?: Record<string, string>;
  readyTimeoutMs?: number;
}

/** Starts `pemba serve ARGS` and resolves once it logs its ready line. */
export async function serveProcess(args: string[], options: ServeOptions = {}): Promise<ServeProcess> {
  const child = spawn(
    process.execPath,
    pembaArgs(['serve', '--grpc-addr', '127.0.0.1:0', '--log-format', 'json', ...args]),
    {
      cwd: options.cwd ?? REPO,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const exit = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const clients: v1.ZedClientInterface[] = [];
  const s: ServeProcess = {
    child,
    pid: child.pid!,
    endpoint: '',
    ready: {},
    logs: () => output,
    exit,
    client(key) {
      const c = v1.NewClient(key, s.endpoint, v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS);
      clients.push(c);
      return c;
    },
    async kill(signal = 'SIGKILL') {
      running.delete(s);
      for (const c of clients.splice(0)) c.close();
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exit;
    },
  };
  running.add(s);
  const timeoutMs = options.readyTimeoutMs ?? 30_000;
  s.ready = await new Promise<Record<string, unknown>>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line within ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const line = output.split('\n').find((l) => l.includes('pemba is listening'));
      if (!line) return;
      clearTimeout(timer);
      resolveReady(JSON.parse(line) as Record<string, unknown>);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exit.then(({ code, signal }) => {
      clearTimeout(timer);
      running.delete(s);
      reject(new Error(`pemba serve exited (${code ?? signal}) before it was ready:\n${output}`));
    });
  });
  s.endpoint = String(s.ready.grpcAddr);
  return s;
}

/**
 * A request body over the limit is answered 413 with the gateway's JSON error naming the limit,
 * whether it declares its length or comes in chunks, without being kept in memory, and on a
 * connection the client can read its answer from and reuse (not a reset).
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KEY, startTestServer } from './harness.js';
import type { TestServer } from './harness.js';

const LIMIT = 64 * 1024;
let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({ grpcMaxMessageSize: String(LIMIT) });
});

afterAll(async () => {
  await t?.close();
});

const open: Connection[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.socket.destroy();
});

interface Answer {
  status: number;
  body: string;
}

/**
 * One keep-alive HTTP/1.1 connection, written and read by hand: a request can keep sending its body
 * after the answer has come (as an uploading client does), and answers are read as they arrive.
 */
class Connection {
  readonly socket: Socket;
  private received = '';
  private closed = false;
  private wake = () => {};

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.setEncoding('latin1');
    this.socket.on('data', (d: string) => {
      this.received += d;
      this.wake();
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    this.socket.on('error', () => undefined); // a reset shows as `close` before the answer
    open.push(this);
  }

  /** Sends a POST with `chunks` as its body, declaring its length or in chunked encoding; resolves once all is sent. */
  async post(path: string, chunks: Buffer[], framing: 'length' | 'chunked'): Promise<void> {
    const length = chunks.reduce((n, c) => n + c.length, 0);
    this.socket.write(
      `POST ${path} HTTP/1.1\r\nHost: pemba\r\nAuthorization: Bearer ${KEY}\r\n` +
        (framing === 'length' ? `Content-Length: ${length}\r\n\r\n` : 'Transfer-Encoding: chunked\r\n\r\n'),
    );
    for (const chunk of chunks) {
      const framed =
        framing === 'length'
          ? chunk
          : Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
      if (this.closed) throw new Error('the server closed the connection while the body was being sent');
      if (!this.socket.write(framed)) await Promise.race([once(this.socket, 'drain'), once(this.socket, 'close')]);
    }
    if (framing === 'chunked') this.socket.write('0\r\n\r\n');
  }

  /** The next answer on the connection (the gateway's answers all carry a Content-Length). */
  async answer(): Promise<Answer> {
    for (;;) {
      const m = /^HTTP\/1\.1 (\d+)[^\r]*\r\n([\s\S]*?)\r\n\r\n/.exec(this.received);
      const length = m && /content-length: *(\d+)/i.exec(m[2]);
      if (m && length && this.received.length >= m[0].length + Number(length[1])) {
        const body = this.received.slice(m[0].length, m[0].length + Number(length[1]));
        this.received = this.received.slice(m[0].length + body.length);
        return { status: Number(m[1]), body };
      }
      if (this.closed) throw new Error(`connection closed before a complete answer: ${JSON.stringify(this.received)}`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }
}

const connection = () => new Connection(Number(new URL(t.httpBase).port));
const filler = (bytes: number) => Array.from({ length: Math.ceil(bytes / 16384) }, () => Buffer.alloc(16384, ' '));

function expectTooLarge(a: Answer): void {
  expect(a.status).toBe(413);
  expect(JSON.parse(a.body)).toEqual({ code: 8, message: expect.stringContaining(`${LIMIT} bytes`), details: [] });
}

describe('a request body over the limit', () => {
  for (const framing of ['length', 'chunked'] as const) {
    it(`is answered 413 with a JSON error naming the limit (${framing}), and the connection stays usable`, async () => {
      const c = connection();
      const sent = c.post('/v1/schema/read', filler(4 * LIMIT), framing);
      expectTooLarge(await c.answer());
      // The rest of the body is read and dropped, not refused with a reset: the same connection serves the next request.
      await sent;
      await c.post('/v1/schema/read', [Buffer.from('{}')], 'length');
      const next = await c.answer();
      expect(next.status).not.toBe(413);
      expect(JSON.parse(next.body)).toBeTypeOf('object');
    });
  }

  it('is answered 413 on server-streaming and client-streaming methods too', async () => {
    const c = connection();
    for (const path of ['/v1/relationships/read', '/v1/relationships/importbulk']) {
      const sent = c.post(path, filler(2 * LIMIT), 'chunked');
      expectTooLarge(await c.answer());
      await sent;
    }
  });

  it('is drained however large it is, answered as soon as it passes the limit', async () => {
    const c = connection();
    const sent = c.post('/v1/schema/read', filler(200 * LIMIT), 'length'); // 12.5 MB, far past the limit
    expectTooLarge(await c.answer());
    await sent;
    await c.post('/v1/schema/read', [Buffer.from('{}')], 'length');
    expect((await c.answer()).status).not.toBe(413);
  });

  it('does not apply to a body within the limit', async () => {
    const body = Buffer.from(JSON.stringify({ padding: ' '.repeat(LIMIT - 100) }));
    expect(body.length).toBeLessThanOrEqual(LIMIT);
    const c = connection();
    await c.post('/v1/schema/read', [body], 'chunked');
    // Past the body check: there is no schema, so ReadSchema answers NOT_FOUND.
    expect(JSON.parse((await c.answer()).body).code).toBe(5);
  });
});

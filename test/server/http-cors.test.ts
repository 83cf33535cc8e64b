/**
 * --http-cors-enabled / --http-cors-allowed-origins: the HTTP gateway answers preflights and adds
 * CORS headers to answers for allowed origins, as SpiceDB's gateway does (rs/cors, credentials
 * allowed, headers Authorization and Content-Type); without the flag, nothing changes.
 */
import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { originMatcher } from '../../src/api/http/cors.js';
import { KEY, SCHEMA, startTestServer } from './harness.js';
import type { TestServer } from './harness.js';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function call(base: string, method: string, path: string, headers: Record<string, string>, body?: string) {
  return new Promise<Answer>((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const preflight = (base: string, origin: string, method = 'POST', requestHeaders = 'authorization,content-type') =>
  call(base, 'OPTIONS', '/v1/schema/read', {
    Origin: origin,
    'Access-Control-Request-Method': method,
    'Access-Control-Request-Headers': requestHeaders,
  });

const readSchema = (base: string, origin?: string) =>
  call(
    base,
    'POST',
    '/v1/schema/read',
    { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json', ...(origin ? { Origin: origin } : {}) },
    '{}',
  );

describe('CORS on the HTTP gateway', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({
      httpCorsEnabled: true,
      httpCorsAllowedOrigins: ['https://app.example.com,https://*.example.org'],
    });
    await t.client.promises.writeSchema({ schema: SCHEMA });
  });
  afterAll(async () => t?.close());

  it('answers a preflight from an allowed origin with the Access-Control-Allow-* headers', async () => {
    const r = await preflight(t.httpBase, 'https://app.example.com', 'POST', 'Authorization, Content-Type');
    expect(r.status).toBe(204);
    expect(r.body).toBe('');
    expect(r.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(r.headers['access-control-allow-methods']).toBe('POST');
    expect(r.headers['access-control-allow-headers']).toBe('Authorization, Content-Type');
    expect(r.headers['access-control-allow-credentials']).toBe('true');
    expect(r.headers.vary).toBe('Origin, Access-Control-Request-Method, Access-Control-Request-Headers');
    // A wildcard origin pattern.
    const w = await preflight(t.httpBase, 'https://tenant-1.example.org');
    expect(w.headers['access-control-allow-origin']).toBe('https://tenant-1.example.org');
  });

  it('answers a refused preflight without them (other origin, method or header)', async () => {
    for (const r of [
      await preflight(t.httpBase, 'https://evil.example.net'),
      await preflight(t.httpBase, 'https://example.org'), // the pattern needs a subdomain
      await preflight(t.httpBase, 'https://app.example.com', 'DELETE'),
      await preflight(t.httpBase, 'https://app.example.com', 'POST', 'authorization,x-custom'),
    ]) {
      expect(r.status).toBe(204);
      expect(r.headers['access-control-allow-origin']).toBeUndefined();
      expect(r.headers['access-control-allow-credentials']).toBeUndefined();
    }
  });

  it('adds the headers to answers for allowed origins, and only those', async () => {
    const ok = await readSchema(t.httpBase, 'https://app.example.com');
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body).schemaText).toContain('definition doc');
    expect(ok.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(ok.headers['access-control-allow-credentials']).toBe('true');
    expect(ok.headers.vary).toBe('Origin');

    const other = await readSchema(t.httpBase, 'https://evil.example.net');
    expect(other.status).toBe(200); // CORS is the browser's to enforce; the answer just lacks the headers
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    const none = await readSchema(t.httpBase);
    expect(none.headers['access-control-allow-origin']).toBeUndefined();

    // Errors carry them too, so a browser can read the error.
    const unauthenticated = await call(t.httpBase, 'POST', '/v1/schema/read', { Origin: 'https://app.example.com' });
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.headers['access-control-allow-origin']).toBe('https://app.example.com');
    const healthz = await call(t.httpBase, 'GET', '/healthz', { Origin: 'https://x.example.org' });
    expect(healthz.status).toBe(200);
    expect(healthz.headers['access-control-allow-origin']).toBe('https://x.example.org');
  });
});

describe('CORS off (the default)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => t?.close());

  it('sends no CORS headers and does not answer preflights', async () => {
    const r = await preflight(t.httpBase, 'https://app.example.com');
    expect(r.status).toBe(405);
    expect(r.headers['access-control-allow-origin']).toBeUndefined();
    const a = await readSchema(t.httpBase, 'https://app.example.com');
    expect(a.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('--http-cors-allowed-origins *', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ httpCorsEnabled: 'true' });
  });
  afterAll(async () => t?.close());

  it('allows every origin, echoing it (credentials are allowed, so never a bare *)', async () => {
    const r = await preflight(t.httpBase, 'http://localhost:5173');
    expect(r.headers['access-control-allow-origin']).toBe('http://localhost:5173');
    expect(originMatcher(['*'])('null')).toBe(true);
  });
});

describe('origin patterns', () => {
  it('match exactly, case-insensitively, or around one wildcard', () => {
    const allowed = originMatcher(['https://App.example.com', 'http://*.local:8080']);
    expect(allowed('https://app.example.com')).toBe(true);
    expect(allowed('https://app.example.com:443')).toBe(false);
    expect(allowed('http://a.b.local:8080')).toBe(true);
    expect(allowed('http://x.local:8081')).toBe(false);
    expect(allowed('http:/.local:8080')).toBe(false);
  });
});

/** gRPC, the HTTP gateway and OpenFGA's HTTP API over TLS when certificate and key paths are given. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { v1 } from '@authzed/authzed-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY, SCHEMA, startTestServer } from './harness.js';
import type { TestServer } from './harness.js';

// The test makes its certificates with openssl (Debian's openssl package); without it the test fails.
describe('TLS', () => {
  let dir: string;
  let cert: Buffer;
  let t: TestServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pemba-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    cert = readFileSync(join(dir, 'cert.pem'));
    t = await startTestServer({
      grpcTlsCertPath: join(dir, 'cert.pem'),
      grpcTlsKeyPath: join(dir, 'key.pem'),
      httpTlsCertPath: join(dir, 'cert.pem'),
      httpTlsKeyPath: join(dir, 'key.pem'),
      openfgaEnabled: 'true',
      openfgaHttpAddr: '127.0.0.1:0',
      openfgaHttpTlsCertPath: join(dir, 'cert.pem'),
      openfgaHttpTlsKeyPath: join(dir, 'key.pem'),
    });
  });

  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves gRPC over TLS to a client trusting the certificate', async () => {
    const client = v1.NewClientWithCustomCert(KEY, `localhost:${t.server.grpcAddr.port}`, cert);
    const w = await client.promises.writeSchema(v1.WriteSchemaRequest.create({ schema: SCHEMA }));
    expect(w.writtenAt?.token).toBeTruthy();
    client.close();
  });

  it('refuses plaintext clients', async () => {
    await expect(
      t.client.promises.readSchema(v1.ReadSchemaRequest.create(), new (await import('@grpc/grpc-js')).Metadata(), {
        deadline: Date.now() + 2000,
      }),
    ).rejects.toMatchObject({ code: expect.any(Number) });
  });

  /** A POST over HTTPS trusting only the test's certificate. */
  const post = (port: number, path: string, body: string, headers: Record<string, string>) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, path, method: 'POST', ca: cert, servername: 'localhost', headers },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => {
            text += c.toString();
          });
          res.on('end', () => resolve({ status: res.statusCode!, body: text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  it('serves the HTTP gateway over HTTPS', async () => {
    const { body } = await post(t.server.httpAddr!.port, '/v1/schema/read', '{}', { Authorization: `Bearer ${KEY}` });
    expect(JSON.parse(body).schemaText).toBe(SCHEMA);
  });

  it("serves OpenFGA's HTTP API over HTTPS", async () => {
    const answer = await post(t.server.openfgaAddr!.port, '/stores', JSON.stringify({ name: 'over-tls' }), {
      Authorization: `Bearer ${KEY}`,
      'Content-Type': 'application/json',
    });
    expect(answer.status).toBe(201);
    expect(JSON.parse(answer.body)).toMatchObject({ name: 'over-tls', id: expect.stringMatching(/^[0-9A-Z]{26}$/) });
  });
});

/**
 * The connection flags of the commands that talk to a running server (`pemba import`, `pemba
 * export`), named as zed names them: --endpoint, --token (or PEMBA_TOKEN), --insecure.
 */
import { readFileSync } from 'node:fs';
import { v1 } from '@authzed/authzed-node';
import * as grpc from '@grpc/grpc-js';
import { Option } from 'commander';
import type { Command } from 'commander';

export interface ClientOptions {
  endpoint: string;
  token?: string;
  insecure?: boolean;
  certificatePath?: string;
}

export const DEFAULT_ENDPOINT = 'localhost:50051';

export function addClientOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--endpoint <host:port>', 'the server to talk to').env('PEMBA_ENDPOINT').default(DEFAULT_ENDPOINT),
    )
    .addOption(new Option('--token <key>', "the server's preshared key").env('PEMBA_TOKEN'))
    .addOption(new Option('--insecure', 'plaintext, without TLS (for a server without --grpc-tls-cert-path)'))
    .addOption(new Option('--certificate-path <path>', 'a CA certificate to trust for TLS (e.g. a self-signed one)'));
}

export class ClientOptionsError extends Error {
  override name = 'ClientOptionsError';
}

export function connect(options: ClientOptions): v1.ZedClientInterface {
  if (!options.token)
    throw new ClientOptionsError(
      "a token is required: pass --token or set PEMBA_TOKEN (the server's --grpc-preshared-key)",
    );
  // Bulk messages can be large; match `pemba serve --grpc-max-message-size`'s ceiling rather than grpc-js's 4 MiB.
  const channel = { 'grpc.max_receive_message_length': 64 * 1024 * 1024 };
  if (options.insecure)
    return v1.NewClient(
      options.token,
      options.endpoint,
      v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS,
      undefined,
      channel,
    );
  if (options.certificatePath) {
    return v1.NewClientWithCustomCert(
      options.token,
      options.endpoint,
      readFileSync(options.certificatePath),
      undefined,
      channel,
    );
  }
  return v1.NewClient(options.token, options.endpoint, v1.ClientSecurity.SECURE, undefined, channel);
}

/** A gRPC error as one line, with a hint when TLS is the likely problem. */
export function describeCallError(error: unknown, options: ClientOptions): string {
  const e = error as Partial<grpc.ServiceError>;
  if (typeof e.code !== 'number') return (error as Error).message ?? String(error);
  const name = grpc.status[e.code] ?? String(e.code);
  let text = `${name}: ${e.details || e.message}`;
  if (e.code === grpc.status.UNAVAILABLE) {
    text += ` (is a server listening on ${options.endpoint}?${options.insecure ? '' : ' For a plaintext server, pass --insecure.'})`;
  }
  return text;
}

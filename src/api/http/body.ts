/**
 * Request bodies, up to a limit. A body over it is answered 413 without being kept: one that
 * declares its length is refused unread, one sent in chunks once it passes the limit. What is still
 * arriving is discarded (Node does this for a body left unread), so the client reads its answer on
 * a connection it can reuse, instead of a reset.
 */
import type { IncomingMessage } from 'node:http';
import { PembaError } from '../../errors/index.js';

/** RESOURCE_EXHAUSTED, sent as HTTP 413 Content Too Large. */
export class BodyTooLarge extends PembaError {
  readonly httpStatus = 413;

  constructor(limit: number) {
    super('RESOURCE_EXHAUSTED', `request body larger than the maximum of ${limit} bytes (--grpc-max-message-size)`);
  }
}

export function readBody(req: IncomingMessage, limit: number): Promise<string> {
  if (Number(req.headers['content-length']) > limit) return Promise.reject(new BodyTooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const collect = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      // Still flowing, but with no listener: the rest is read and dropped.
      chunks.length = 0;
      req.off('data', collect);
      reject(new BodyTooLarge(limit));
    };
    req.on('data', collect);
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

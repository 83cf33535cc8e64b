/**
 * CORS for the HTTP gateway, as SpiceDB's `--http-cors-enabled` sets it up (github.com/rs/cors with
 * the allowed origins, credentials allowed, and the request headers Authorization and Content-Type):
 *
 * - A preflight (OPTIONS with Access-Control-Request-Method) is answered here, 204 with no body,
 *   whatever its path; it carries the Access-Control-Allow-* headers only when the origin, the method
 *   (GET, POST or HEAD) and every requested header are allowed, so the browser refuses otherwise.
 * - Any other request goes on to the gateway; from an allowed origin with an allowed method, its
 *   answer carries Access-Control-Allow-Origin (the request's origin) and Access-Control-Allow-Credentials.
 *
 * Every answer gets `Vary: Origin` (and a preflight's `Vary` also names the headers it depends on),
 * so caches keep one answer per origin. An allowed origin is `*` (all), an exact origin, or a
 * pattern with one `*` standing for any characters (`https://*.example.com`); origins compare
 * case-insensitively.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface CorsOptions {
  allowedOrigins: readonly string[];
}

const ALLOWED_METHODS = new Set(['GET', 'POST', 'HEAD']);
/** rs/cors always adds Origin to the headers SpiceDB allows. */
const ALLOWED_HEADERS = new Set(['authorization', 'content-type', 'origin']);

/**
 * A CORS step for an HTTP handler: it sets the response's CORS headers and returns true when it
 * answered the request itself (a preflight); false means the request goes on to the handler.
 */
export function corsHandler(options: CorsOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const allowed = originMatcher(options.allowedOrigins);
  return (req, res) => {
    const origin = header(req, 'origin');
    const requestedMethod = header(req, 'access-control-request-method');
    if (req.method === 'OPTIONS' && requestedMethod !== undefined) {
      res.setHeader('Vary', 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers');
      const requestedHeaders = header(req, 'access-control-request-headers');
      if (
        origin &&
        allowed(origin) &&
        ALLOWED_METHODS.has(requestedMethod.toUpperCase()) &&
        headersAllowed(requestedHeaders)
      ) {
        res.setHeader('Access-Control-Allow-Origin', origin);
        res.setHeader('Access-Control-Allow-Methods', requestedMethod.toUpperCase());
        if (requestedHeaders?.trim()) res.setHeader('Access-Control-Allow-Headers', requestedHeaders);
        res.setHeader('Access-Control-Allow-Credentials', 'true');
      }
      res.writeHead(204);
      res.end();
      return true;
    }
    res.setHeader('Vary', 'Origin');
    if (origin && allowed(origin) && (req.method === 'OPTIONS' || ALLOWED_METHODS.has(req.method ?? ''))) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
    }
    return false;
  };
}

function headersAllowed(requested: string | undefined): boolean {
  if (!requested) return true;
  return requested
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .every((h) => h === '' || ALLOWED_HEADERS.has(h));
}

/** Whether an origin is allowed: `*`, an exact origin, or a pattern with one `*` wildcard. */
export function originMatcher(patterns: readonly string[]): (origin: string) => boolean {
  const lower = patterns.map((p) => p.trim().toLowerCase()).filter((p) => p.length > 0);
  if (lower.includes('*')) return () => true;
  const exact = new Set(lower.filter((p) => !p.includes('*')));
  const wildcards = lower
    .filter((p) => p.includes('*'))
    .map((p) => {
      const star = p.indexOf('*');
      return { prefix: p.slice(0, star), suffix: p.slice(star + 1) };
    });
  return (origin) => {
    const o = origin.toLowerCase();
    if (exact.has(o)) return true;
    return wildcards.some(
      (w) => o.length >= w.prefix.length + w.suffix.length && o.startsWith(w.prefix) && o.endsWith(w.suffix),
    );
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

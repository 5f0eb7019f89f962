import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { EnrolErrorCode, isTillboxError } from '../../contract/errors.ts';
import { EnrolError, EST_BODY_MAX, EST_CERTS_TYPE, EST_PATH } from '../../contract/enrolment.ts';
import { PROBLEM_CONTENT_TYPE, problem, statusOf } from '../../contract/problem.ts';
import { toPkcs7Base64, x509 } from '../../lib/x509.ts';
import type { Logger } from '../log.ts';
import type { EnrolmentService } from './service.ts';

// The EST listener (RFC 7030) over HTTPS, with a server certificate from the
// device CA: GET cacerts, POST simpleenroll (HTTP Basic: device id + token or
// pairing code), POST simplereenroll (the current client certificate), and
// GET /crl. Client certificates are requested but not required at the TLS
// layer (a new box has none); simplereenroll checks them itself.

export interface EstServerOptions {
  service: EnrolmentService;
  host: string;
  port: number;
  /** Host names and addresses the server certificate is valid for (besides localhost). */
  hostnames?: string[];
  log: Logger;
  now?: () => number;
}

export class EstServer {
  readonly #o: EstServerOptions;
  #server: Server | undefined;
  port = 0;

  constructor(options: EstServerOptions) {
    this.#o = options;
  }

  /** The URL boxes are told to use: the first HQ_EST_HOSTNAMES entry when given (a wildcard bind is no address). */
  get url(): string {
    const named = this.#o.hostnames?.[0];
    const h = named ?? (this.#o.host === '0.0.0.0' || this.#o.host === '::' ? '127.0.0.1' : this.#o.host);
    return `https://${h.includes(':') ? `[${h}]` : h}:${this.port}`;
  }

  async start(): Promise<void> {
    const { service } = this.#o;
    const hosts = [...new Set(['localhost', '127.0.0.1', '::1', ...(this.#o.hostnames ?? []), this.#o.host].filter((h) => h && h !== '0.0.0.0' && h !== '::'))];
    const tls = await service.ca.issueServer(hosts, 365 * 86_400_000);
    const server = createServer({ cert: tls.certPem, key: tls.keyPem, ca: [service.ca.certPem], requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' }, (req, res) => {
      this.#handle(req, res).catch((err: unknown) => this.#fail(res, err));
    });
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#o.port, this.#o.host, () => resolve());
    });
    this.#server = server;
    const addr = server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : this.#o.port;
    service.estUrl = this.url;
    this.#o.log.info({ url: this.url, caFingerprint: service.ca.fingerprint }, 'EST enrolment listening');
  }

  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  #date(res: ServerResponse): void {
    // The box compares its clock with this (CLOCK_SKEW_MAX_MS).
    res.setHeader('Date', new Date((this.#o.now ?? Date.now)()).toUTCString());
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.#date(res);
    const path = (req.url ?? '').split('?')[0];
    const { service } = this.#o;
    if (req.method === 'GET' && path === EST_PATH.cacerts) return this.#certs(res, [service.ca.cert]);
    if (req.method === 'GET' && path === '/crl') {
      res.writeHead(200, { 'Content-Type': 'application/pkix-crl' }).end(await service.crlPem());
      return;
    }
    if (req.method === 'POST' && (path === EST_PATH.simpleenroll || path === EST_PATH.simplereenroll)) {
      const body = await readBody(req);
      const address = req.socket.remoteAddress ?? '';
      if (path === EST_PATH.simpleenroll) {
        const auth = basicAuth(req.headers.authorization);
        if (!auth) {
          res.setHeader('WWW-Authenticate', 'Basic realm="tillbox EST"');
          throw new EnrolError(EnrolErrorCode.TokenRefused, 'HTTP Basic authentication (device id and token or pairing code) is required');
        }
        return this.#certs(res, [await service.enrol(body, auth, address)]);
      }
      const sock = req.socket as TLSSocket;
      const peer = sock.getPeerCertificate();
      if (!peer?.raw) throw new EnrolError(EnrolErrorCode.TokenRefused, 'simplereenroll needs the current client certificate');
      if (!sock.authorized) throw new EnrolError(EnrolErrorCode.TokenRefused, `the client certificate is not valid: ${String(sock.authorizationError)}`);
      return this.#certs(res, [await service.reenrol(body, new x509.X509Certificate(peer.raw))]);
    }
    const p = problem(404, 'TB_NOT_FOUND', `no EST route ${req.method} ${path}`);
    res.writeHead(404, { 'Content-Type': PROBLEM_CONTENT_TYPE }).end(JSON.stringify(p));
  }

  #certs(res: ServerResponse, certs: x509.X509Certificate[]): void {
    res.writeHead(200, { 'Content-Type': EST_CERTS_TYPE, 'Content-Transfer-Encoding': 'base64' }).end(toPkcs7Base64(certs));
  }

  #fail(res: ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof EnrolError && err.code === EnrolErrorCode.Pending) {
      res.writeHead(202, { 'Retry-After': String(err.retryAfterS ?? 10), 'Content-Type': PROBLEM_CONTENT_TYPE });
      res.end(JSON.stringify({ ...problem(400, err.code, err.message), status: 202 }));
      return;
    }
    const code = isTillboxError(err) ? err.code : 'TB_INTERNAL';
    const status = err instanceof BodyTooLarge ? 413 : statusOf(code);
    if (status >= 500) this.#o.log.error({ err }, 'EST request failed');
    res
      .writeHead(status, { 'Content-Type': PROBLEM_CONTENT_TYPE })
      .end(JSON.stringify(problem(status, err instanceof BodyTooLarge ? 'TB_HTTP_BODY_TOO_LARGE' : code, status >= 500 ? 'internal error' : (err as Error).message)));
  }
}

class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > EST_BODY_MAX) throw new BodyTooLarge(`body over ${EST_BODY_MAX} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('ascii');
}

function basicAuth(header: string | undefined): { username: string; password: string } | undefined {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i <= 0) return undefined;
  return { username: text.slice(0, i), password: text.slice(i + 1) };
}

import { request } from 'node:https';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { EnrolErrorCode } from '../contract/errors.ts';
import { EnrolError, EST_BODY_MAX, EST_CSR_TYPE, EST_PATH, RETRY_AFTER_MAX_S, RETRY_AFTER_MIN_S } from '../contract/enrolment.ts';
import type { x509 } from '../lib/x509.ts';

export { EnrolError };

// The EST client (RFC 7030) over node:https. Every failure is an EnrolError
// with a code the CLI and the renewer act on: unreachable, TLS, token
// refused, pending (with the Retry-After HQ gave), revoked, bad message.

export interface EstClientOptions {
  /** https://host:port (the EST prefix is added here). */
  url: string;
  /** The pinned CA (PEM). Absent only for the bootstrap cacerts request, whose answer is checked by fingerprint. */
  ca?: string | undefined;
  /** Client certificate chain and key (PEM), for simplereenroll. */
  cert?: string | undefined;
  key?: string | undefined;
  timeoutMs?: number;
}

export interface EstResponse {
  certs: x509.X509Certificate[];
  /** HQ's clock (the Date header), for the skew check. */
  date: number | undefined;
}

/** extendedKeyUsage clientAuth (RFC 5280 §4.2.1.12). */
const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2';

/**
 * Server identity check for everything the box reaches with HQ's CA in its
 * trust (the EST server, the cloud broker): the usual host name check, and no
 * certificate HQ issued to a device (those carry clientAuth), so one box can
 * never pose as HQ to another.
 */
export function checkHqServerIdentity(host: string, cert: PeerCertificate): Error | undefined {
  if (cert.ext_key_usage?.includes(CLIENT_AUTH_OID)) {
    return Object.assign(new Error(`the server at ${host} presented a device certificate (${cert.subject?.CN ?? '?'}), not one of HQ's servers`), { code: 'ERR_TLS_DEVICE_CERTIFICATE' });
  }
  return checkServerIdentity(host, cert);
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|ERR_SSL|SSL|HOSTNAME|ALTNAME|EPROTO/;

export class EstClient {
  readonly #o: EstClientOptions;

  constructor(options: EstClientOptions) {
    const u = new URL(options.url);
    if (u.protocol !== 'https:') throw new EnrolError(EnrolErrorCode.BadMessage, `the EST URL must be https:// (got ${u.protocol})`);
    this.#o = options;
  }

  cacerts(): Promise<EstResponse> {
    return this.#call('GET', EST_PATH.cacerts);
  }

  simpleenroll(csrBase64: string, username: string, password: string): Promise<EstResponse> {
    return this.#call('POST', EST_PATH.simpleenroll, csrBase64, `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`);
  }

  simplereenroll(csrBase64: string): Promise<EstResponse> {
    if (!this.#o.cert || !this.#o.key) throw new EnrolError(EnrolErrorCode.NotEnrolled, 'simplereenroll needs the current certificate and key');
    return this.#call('POST', EST_PATH.simplereenroll, csrBase64);
  }

  #call(method: 'GET' | 'POST', path: string, body?: string, authorization?: string): Promise<EstResponse> {
    const u = new URL(path, this.#o.url);
    const headers: Record<string, string> = {};
    if (body !== undefined) {
      headers['Content-Type'] = EST_CSR_TYPE;
      headers['Content-Transfer-Encoding'] = 'base64';
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    if (authorization) headers.Authorization = authorization;
    return new Promise((resolve, reject) => {
      const req = request(
        u,
        {
          method,
          headers,
          agent: false,
          timeout: this.#o.timeoutMs ?? 15_000,
          minVersion: 'TLSv1.2',
          ...(this.#o.ca ? { ca: this.#o.ca, checkServerIdentity: checkHqServerIdentity } : { rejectUnauthorized: false }),
          ...(this.#o.cert && this.#o.key ? { cert: this.#o.cert, key: this.#o.key } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > EST_BODY_MAX) req.destroy(new EnrolError(EnrolErrorCode.BadMessage, `HQ's answer is over ${EST_BODY_MAX} bytes`));
            else chunks.push(c);
          });
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const date = res.headers.date ? Date.parse(res.headers.date) : undefined;
            const status = res.statusCode ?? 0;
            if (status === 200) {
              // The X.509 toolkit loads with the first answer that needs it (not with core).
              import('../lib/x509.ts')
                .then(({ fromPkcs7Base64 }) => resolve({ certs: fromPkcs7Base64(text), date: Number.isFinite(date) ? date : undefined }))
                .catch((cause: unknown) => reject(new EnrolError(EnrolErrorCode.BadMessage, 'HQ answered 200 without a PKCS#7 certificate bundle', { cause })));
              return;
            }
            reject(errorOf(status, text, res.headers['retry-after']));
          });
        },
      );
      req.on('timeout', () => req.destroy(new EnrolError(EnrolErrorCode.Unreachable, `HQ did not answer within ${this.#o.timeoutMs ?? 15_000} ms (${u.host})`)));
      req.on('error', (err: Error & { code?: string }) => {
        if (err instanceof EnrolError) return reject(err);
        if (err.code && TLS_CODES.test(err.code)) return reject(new EnrolError(EnrolErrorCode.Tls, `TLS with ${u.host} failed: ${err.message} (${err.code})`, { cause: err }));
        reject(new EnrolError(EnrolErrorCode.Unreachable, `cannot reach HQ at ${u.host}: ${err.message}`, { cause: err }));
      });
      req.end(body);
    });
  }
}

function errorOf(status: number, text: string, retryAfter: string | string[] | undefined): EnrolError {
  let detail = text.slice(0, 300);
  let code: string | undefined;
  try {
    const p = JSON.parse(text) as { detail?: string; code?: string };
    detail = p.detail ?? detail;
    code = p.code;
  } catch {
    // not problem+json: keep the text
  }
  if (status === 202) {
    const s = Number(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
    const wait = Number.isFinite(s) ? Math.min(RETRY_AFTER_MAX_S, Math.max(RETRY_AFTER_MIN_S, s)) : 10;
    return new EnrolError(EnrolErrorCode.Pending, detail || 'waiting for approval at HQ', { retryAfterS: wait });
  }
  if (status === 401) return new EnrolError(EnrolErrorCode.TokenRefused, detail || 'HQ refused the credentials');
  if (status === 403 || code === EnrolErrorCode.Revoked) return new EnrolError(EnrolErrorCode.Revoked, detail || 'HQ refused: revoked');
  if (status >= 400 && status < 500) return new EnrolError(EnrolErrorCode.BadMessage, `HQ answered ${status}: ${detail}`);
  return new EnrolError(EnrolErrorCode.Unreachable, `HQ answered ${status}: ${detail}`);
}

import { createHash, timingSafeEqual } from 'node:crypto';
import { ErrorCode, TillboxError } from '../../contract/errors.ts';
import type { Actor, ActorRole } from '../../contract/pos.ts';

// API authentication: `Authorization: Bearer <token>`, one token per till or
// manager. Tokens are compared as sha256 digests with timingSafeEqual, over
// every configured token (no early exit), so timing reveals neither a prefix
// nor which token matched. Tokens are never logged or echoed.
//
// Loopback rule: when `loopbackOpen` and the TCP peer is 127.0.0.0/8 or ::1
// (the socket's address; X-Forwarded-For is never trusted), a request without
// an Authorization header acts as the till "loopback". A manager action still
// needs a manager token, and a wrong token is refused even on loopback.

export interface ApiToken {
  name: string;
  token: string;
  role: ActorRole;
}

export interface AuthOptions {
  tokens: readonly ApiToken[];
  loopbackOpen: boolean;
}

export const LOOPBACK_ACTOR: Actor = Object.freeze({ name: 'loopback', role: 'till' });

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  if (address === '::1') return true;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export class Authenticator {
  readonly #entries: Array<{ digest: Buffer; actor: Actor }>;
  readonly #loopbackOpen: boolean;

  constructor(options: AuthOptions) {
    this.#entries = options.tokens.map((t) => ({ digest: digest(t.token), actor: Object.freeze({ name: t.name, role: t.role }) }));
    this.#loopbackOpen = options.loopbackOpen;
  }

  /** The actor for a request, or Unauthorized. */
  authenticate(authorization: string | undefined, remoteAddress: string | undefined): Actor {
    if (authorization === undefined || authorization === '') {
      if (this.#loopbackOpen && isLoopback(remoteAddress)) return LOOPBACK_ACTOR;
      throw new TillboxError(ErrorCode.Unauthorized, 'an API token is required (Authorization: Bearer <token>)');
    }
    const m = /^Bearer +(\S+) *$/i.exec(authorization);
    if (!m) throw new TillboxError(ErrorCode.Unauthorized, 'the Authorization header must be "Bearer <token>"');
    const presented = digest(m[1]!);
    let found: Actor | undefined;
    for (const e of this.#entries) if (timingSafeEqual(e.digest, presented) && !found) found = e.actor;
    if (!found) throw new TillboxError(ErrorCode.Unauthorized, 'unknown API token');
    return found;
  }
}

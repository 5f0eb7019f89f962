// Pure decisions of the broker's connection policy, kept apart from sockets
// so each rule is testable on its own and the broker only wires them in.
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { ROLES, type Role } from '../../contract/roles.ts';

export interface Account {
  username: string;
  password: string;
  role: Role;
}

export interface Identity {
  /** Account name, or undefined for an anonymous loopback client. */
  username: string | undefined;
  role: Role;
  loopback: boolean;
}

/** Prefix every anonymous loopback client id must carry; no account may use this name. */
export const ANONYMOUS_PREFIX = 'anonymous';

/** 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (a === '::1') return true;
  return isIP(a) === 4 && a.startsWith('127.');
}

const digest = (s: string | Buffer): Buffer => createHash('sha256').update(s).digest();

/**
 * Username/password check in constant time with respect to the password (both
 * sides are hashed to equal length before timingSafeEqual); an unknown user
 * costs the same comparison against a dummy.
 */
export class AccountTable {
  readonly #byName = new Map<string, { hash: Buffer; role: Role }>();
  readonly #dummy = digest('tillbox-no-such-account');

  constructor(accounts: readonly Account[]) {
    for (const a of accounts) {
      if (!a.username || a.username === ANONYMOUS_PREFIX) throw new TypeError(`invalid broker account name ${JSON.stringify(a.username)}`);
      if (/[:/#+]/.test(a.username)) throw new TypeError(`broker account name must not contain : / # +: ${JSON.stringify(a.username)}`);
      if (!ROLES.includes(a.role)) throw new TypeError(`unknown role for broker account ${a.username}`);
      if (!a.password) throw new TypeError(`broker account ${a.username} has an empty password`);
      this.#byName.set(a.username, { hash: digest(a.password), role: a.role });
    }
  }

  verify(username: string, password: Buffer | string | undefined): Role | undefined {
    const entry = this.#byName.get(username);
    const given = digest(password ?? '');
    const ok = timingSafeEqual(given, entry?.hash ?? this.#dummy);
    return ok && entry ? entry.role : undefined;
  }
}

/**
 * Client id bound to identity, so one identity can never take over another's
 * session (MQTT 3.1.1 §3.1.4-2 lets a new connection with the same id evict
 * the old one): the id must be the username, or start with `username-` or
 * `username:`. Anonymous loopback clients must use `anonymous-...`.
 */
export function clientIdAllowed(clientId: string, username: string | undefined): boolean {
  const owner = username ?? ANONYMOUS_PREFIX;
  if (clientId === owner) return username !== undefined;
  return clientId.startsWith(`${owner}-`) || clientId.startsWith(`${owner}:`);
}

export type ConnectDecision = { ok: true; identity: Identity } | { ok: false; returnCode: 2 | 4 | 5; reason: string };

export interface ConnectPolicy {
  accounts: AccountTable;
  anonymousLoopback: { enabled: boolean; role: Role };
}

/**
 * CONNECT decision. Return codes are MQTT 3.1.1 §3.2.2.3: 2 identifier
 * rejected, 4 bad user name or password, 5 not authorized.
 */
export function decideConnect(policy: ConnectPolicy, remoteAddress: string | undefined, clientId: string, username: string | undefined, password: Buffer | string | undefined): ConnectDecision {
  const loopback = isLoopbackAddress(remoteAddress);
  let identity: Identity;
  if (username === '' && password !== undefined && password.length > 0) {
    // A password without a user name is no identity (§3.1.2.9): not anonymous either.
    return { ok: false, returnCode: 4, reason: 'a password without a user name' };
  }
  if (username === undefined || username === '') {
    if (!loopback) return { ok: false, returnCode: 5, reason: 'anonymous connection from a non-loopback address' };
    if (!policy.anonymousLoopback.enabled) return { ok: false, returnCode: 5, reason: 'anonymous loopback connections are disabled' };
    identity = { username: undefined, role: policy.anonymousLoopback.role, loopback };
  } else {
    const role = policy.accounts.verify(username, password);
    if (!role) return { ok: false, returnCode: 4, reason: 'bad user name or password' };
    identity = { username, role, loopback };
  }
  if (!clientIdAllowed(clientId, identity.username)) {
    return { ok: false, returnCode: 2, reason: 'client id is not bound to the authenticated identity' };
  }
  return { ok: true, identity };
}

/**
 * Keepalive bounds for non-loopback clients, applied by clamping the value
 * the broker enforces (MQTT 3.1.1 has no CONNACK code for it; aedes'
 * keepaliveLimit would answer with the non-standard code 6). 0 ("never") and
 * values above max become max, so a silent half-open LAN connection is
 * dropped after 1.5 × max; values below min become min. Loopback clients are
 * left as they asked.
 */
export function effectiveKeepalive(requested: number, loopback: boolean, min: number, max: number): number {
  if (loopback) return requested;
  if (requested === 0 || requested > max) return max;
  return Math.max(requested, min);
}

/** Sliding one-minute window of accepted connections per remote address. */
export class ConnectionRateLimiter {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #hits = new Map<string, number[]>();

  constructor(perMinute: number, windowMs = 60_000) {
    this.#limit = perMinute;
    this.#windowMs = windowMs;
  }

  /** Records an attempt; false when the address is over its limit. */
  allow(address: string, now = Date.now()): boolean {
    const since = now - this.#windowMs;
    const list = (this.#hits.get(address) ?? []).filter((t) => t > since);
    if (list.length >= this.#limit) {
      this.#hits.set(address, list);
      return false;
    }
    list.push(now);
    this.#hits.set(address, list);
    if (this.#hits.size > 10_000) this.#prune(since);
    return true;
  }

  #prune(since: number): void {
    for (const [k, v] of this.#hits) if (!v.some((t) => t > since)) this.#hits.delete(k);
  }
}

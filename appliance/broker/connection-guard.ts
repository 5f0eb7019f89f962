// Bounds on sockets and clients, on every listener, loopback included
// (issue 9: 6,000 raw TCP sockets to the loopback MQTT port, none of which
// ever sent CONNECT, exhausted core's file descriptors and half of the HTTP
// sales failed). Pure bookkeeping: the broker calls it and acts on the answers.
//
// - A socket is *pending* from accept until its CONNECT is authenticated.
//   Pending sockets are bounded in all and per remote address, and each has
//   connectTimeoutMs to authenticate (Mosquitto and NanoMQ do the same with
//   their connect timeouts). When the bound is reached the *oldest* pending
//   socket is closed to make room, not the new one: a flood then only keeps
//   its newest sockets for a moment, and a real client (which sends CONNECT
//   right after connecting) still gets through: measured with 6,000 held
//   sockets on loopback, the devices account connects within a few tries.
// - Authenticated clients of the core, devices and flows accounts are never
//   refused for room: the box's own services always get in. Every other
//   client (kiosks, admin, anonymous) counts against maxConnections and
//   maxConnectionsPerAddress and is refused with CONNACK 3 (server
//   unavailable, MQTT 3.1.1 §3.2.2.3) when they are full.
// - Every refusal is counted by reason; the broker logs the first one per
//   reason and address (a flood must not flood the log).
import type { Role } from '../../contract/roles.ts';

export interface GuardLimits {
  maxPendingConnects: number;
  maxPendingConnectsPerAddress: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
}

/** The box's own services: never refused for room. */
export const SERVICE_ROLES: readonly Role[] = ['core', 'devices', 'flows'];

export type Refusal = 'pending-full' | 'pending-per-address' | 'connect-timeout' | 'clients-full' | 'clients-per-address';

interface Conn {
  address: string;
  state: 'pending' | 'service' | 'client' | 'closed';
}

export class ConnectionGuard {
  readonly #limits: GuardLimits;
  readonly #conns = new Map<string, Conn>();
  readonly #pendingBy = new Map<string, number>();
  readonly #clientsBy = new Map<string, number>();
  #pending = 0;
  #clients = 0;
  readonly refusals: Record<Refusal, number> = { 'pending-full': 0, 'pending-per-address': 0, 'connect-timeout': 0, 'clients-full': 0, 'clients-per-address': 0 };
  readonly #logged = new Set<string>();

  constructor(limits: GuardLimits) {
    this.#limits = limits;
  }

  get pending(): number {
    return this.#pending;
  }

  get clients(): number {
    return this.#clients;
  }

  /**
   * A new socket (keyed by its TCP endpoints). Returns the pending sockets
   * to close to make room for it (oldest first), each with its reason.
   */
  accept(socket: string, address: string): Array<{ key: string; reason: Refusal }> {
    const evict: Array<{ key: string; reason: Refusal }> = [];
    if ((this.#pendingBy.get(address) ?? 0) >= this.#limits.maxPendingConnectsPerAddress) {
      const old = this.#oldestPending(address);
      if (old) evict.push({ key: old, reason: this.#refuse('pending-per-address') });
    } else if (this.#pending >= this.#limits.maxPendingConnects) {
      const old = this.#oldestPending();
      if (old) evict.push({ key: old, reason: this.#refuse('pending-full') });
    }
    for (const e of evict) this.closed(e.key);
    this.#conns.set(socket, { address, state: 'pending' });
    this.#pending++;
    inc(this.#pendingBy, address, 1);
    return evict;
  }

  /** Map order is insertion order: the first pending entry is the oldest. */
  #oldestPending(address?: string): string | undefined {
    for (const [k, c] of this.#conns) if (c.state === 'pending' && (address === undefined || c.address === address)) return k;
    return undefined;
  }

  /** CONNECT authenticated: undefined to admit, or why the client is refused (CONNACK 3). */
  admit(socket: string, role: Role): Refusal | undefined {
    const c = this.#conns.get(socket);
    if (c?.state !== 'pending') return undefined;
    if (!SERVICE_ROLES.includes(role)) {
      if (this.#clients >= this.#limits.maxConnections) return this.#refuse('clients-full');
      if ((this.#clientsBy.get(c.address) ?? 0) >= this.#limits.maxConnectionsPerAddress) return this.#refuse('clients-per-address');
    }
    this.#leavePending(c);
    if (SERVICE_ROLES.includes(role)) c.state = 'service';
    else {
      c.state = 'client';
      this.#clients++;
      inc(this.#clientsBy, c.address, 1);
    }
    return undefined;
  }

  /** True while the socket has not authenticated (the connect timeout closes it). */
  isPending(socket: string): boolean {
    return this.#conns.get(socket)?.state === 'pending';
  }

  timedOut(): Refusal {
    return this.#refuse('connect-timeout');
  }

  closed(socket: string): void {
    const c = this.#conns.get(socket);
    if (!c) return;
    if (c.state === 'pending') this.#leavePending(c);
    else if (c.state === 'client') {
      this.#clients--;
      inc(this.#clientsBy, c.address, -1);
    }
    c.state = 'closed';
    this.#conns.delete(socket);
  }

  /** True the first time this reason is seen for this address (bounded memory): log it then. */
  firstFor(reason: Refusal, address: string): boolean {
    const key = `${reason} ${address}`;
    if (this.#logged.has(key)) return false;
    if (this.#logged.size > 1000) this.#logged.clear();
    this.#logged.add(key);
    return true;
  }

  #leavePending(c: Conn): void {
    this.#pending--;
    inc(this.#pendingBy, c.address, -1);
  }

  #refuse(r: Refusal): Refusal {
    this.refusals[r]++;
    return r;
  }
}

function inc(m: Map<string, number>, k: string, d: number): void {
  const v = (m.get(k) ?? 0) + d;
  if (v <= 0) m.delete(k);
  else m.set(k, v);
}

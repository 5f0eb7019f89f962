import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../../lib/atomic-file.ts';
import { PENDING_PAIRINGS_MAX, type Pairing } from '../../contract/enrolment.ts';

// What HQ's enrolment authority remembers, in one JSON file in HQ_DATA_DIR/est
// (written durably on every change; small: one entry per token, pairing and
// device). Tokens are kept only as SHA-256 hashes: the file, a backup or a log
// line never holds a usable token.

interface TokenEntry {
  hash: string;
  storeId: string;
  deviceId: string | null;
  createdAt: string;
  expiresAt: string;
  usedAt: string | null;
  usedBy: string | null;
}

interface PairingEntry extends Pairing {
  /** SHA-256 of the key the code was derived from (the CSR of the approved box must carry it). */
  spkiHash: string;
}

interface DeviceEntry {
  deviceId: string;
  storeId: string;
  serial: string;
  notAfter: string;
  issuedAt: string;
  /** Every serial issued to the device (a rotation issues a new one). */
  serials: string[];
  revokedAt: string | null;
}

interface State {
  tokens: TokenEntry[];
  pairings: PairingEntry[];
  devices: DeviceEntry[];
  revoked: Array<{ serial: string; deviceId: string; at: string }>;
}

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

export type TokenCheck = { ok: true; storeId: string } | { ok: false; reason: 'unknown' | 'used' | 'expired' | 'device' };

export class EnrolmentRegistry {
  readonly #file: string;
  readonly #now: () => number;
  #state: State;
  #saving: Promise<void> = Promise.resolve();

  constructor(opts: { file: string; now?: () => number }) {
    this.#file = opts.file;
    this.#now = opts.now ?? Date.now;
    this.#state = existsSync(opts.file) ? (JSON.parse(readFileSync(opts.file, 'utf8')) as State) : { tokens: [], pairings: [], devices: [], revoked: [] };
  }

  #iso(ms = this.#now()): string {
    return new Date(ms).toISOString();
  }

  /** Every change is on disk before the caller answers anyone (a used token stays used after a crash). */
  #save(): Promise<void> {
    const text = JSON.stringify(this.#state);
    // A failed write fails its caller, not every later one.
    const next = this.#saving.catch(() => undefined).then(() => writeFileAtomic(this.#file, text, { durability: 'durable', mode: 0o600 }));
    this.#saving = next;
    return next;
  }

  async createToken(storeId: string, deviceId: string | null, ttlMs: number): Promise<{ token: string; expiresAt: string }> {
    const token = `tbx_${randomBytes(24).toString('base64url')}`;
    const expiresAt = this.#iso(this.#now() + ttlMs);
    this.#state.tokens.push({ hash: hashToken(token), storeId, deviceId, createdAt: this.#iso(), expiresAt, usedAt: null, usedBy: null });
    await this.#save();
    return { token, expiresAt };
  }

  /** True when `token` is unused, unexpired, bound to `deviceId` and for `storeId` (re-enrolling a known device). */
  tokenBoundTo(token: string, deviceId: string, storeId: string): boolean {
    const t = this.#state.tokens.find((x) => x.hash === hashToken(token));
    return !!t && !t.usedAt && Date.parse(t.expiresAt) > this.#now() && t.deviceId === deviceId && t.storeId === storeId;
  }

  /** Checks and, when good, spends a token for `deviceId` (durably, before the certificate is sent). */
  async spendToken(token: string, deviceId: string): Promise<TokenCheck> {
    const t = this.#state.tokens.find((x) => x.hash === hashToken(token));
    if (!t) return { ok: false, reason: 'unknown' };
    if (t.usedAt) return { ok: false, reason: 'used' };
    if (Date.parse(t.expiresAt) <= this.#now()) return { ok: false, reason: 'expired' };
    if (t.deviceId !== null && t.deviceId !== deviceId) return { ok: false, reason: 'device' };
    t.usedAt = this.#iso();
    t.usedBy = deviceId;
    await this.#save();
    return { ok: true, storeId: t.storeId };
  }

  /** Records a box asking with a pairing code; returns the entry (pending until approved). */
  async seePairing(code: string, deviceId: string, address: string, spkiHash: string): Promise<PairingEntry> {
    let p = this.#state.pairings.find((x) => x.code === code);
    if (p && (p.deviceId !== deviceId || p.spkiHash !== spkiHash)) throw new Error('pairing code belongs to another box');
    if (!p) {
      // Unauthenticated: a pending code costs memory only (bounded, oldest pending out first)
      // and is written to disk with the next real change; a box whose code HQ forgot asks again.
      p = { code, deviceId, address, firstSeenAt: this.#iso(), lastSeenAt: this.#iso(), status: 'pending', storeId: null, spkiHash };
      this.#state.pairings.push(p);
      const pending = this.#state.pairings.filter((x) => x.status === 'pending');
      if (pending.length > PENDING_PAIRINGS_MAX) {
        const drop = new Set(pending.slice(0, pending.length - PENDING_PAIRINGS_MAX));
        this.#state.pairings = this.#state.pairings.filter((x) => !drop.has(x));
      }
    } else {
      p.lastSeenAt = this.#iso();
      p.address = address;
      // lastSeenAt is informational: not worth an fsync per poll.
    }
    return p;
  }

  async approvePairing(code: string, storeId: string): Promise<Pairing | undefined> {
    const p = this.#state.pairings.find((x) => x.code === code);
    if (!p) return undefined;
    if (p.status !== 'pending' && p.storeId !== storeId) throw new Error(`pairing code ${code} was approved for store ${p.storeId} already`);
    if (p.status === 'pending') {
      p.status = 'approved';
      p.storeId = storeId;
      await this.#save();
    }
    return publicPairing(p);
  }

  async markPairingIssued(code: string): Promise<void> {
    const p = this.#state.pairings.find((x) => x.code === code);
    if (p && p.status !== 'issued') {
      p.status = 'issued';
      await this.#save();
    }
  }

  pairings(status?: Pairing['status']): Pairing[] {
    return this.#state.pairings.filter((p) => status === undefined || p.status === status).map(publicPairing);
  }

  device(deviceId: string): DeviceEntry | undefined {
    return this.#state.devices.find((d) => d.deviceId === deviceId);
  }

  devices(): DeviceEntry[] {
    return this.#state.devices.map((d) => ({ ...d, serials: [...d.serials] }));
  }

  async recordIssued(deviceId: string, storeId: string, serial: string, notAfter: string): Promise<void> {
    let d = this.device(deviceId);
    if (!d) {
      d = { deviceId, storeId, serial, notAfter, issuedAt: this.#iso(), serials: [], revokedAt: null };
      this.#state.devices.push(d);
    }
    Object.assign(d, { storeId, serial, notAfter, issuedAt: this.#iso() });
    d.serials.push(serial);
    await this.#save();
  }

  isRevokedSerial(serial: string): boolean {
    const s = serial.toLowerCase();
    return this.#state.revoked.some((r) => r.serial === s);
  }

  /** Revokes every certificate of the device; returns the serials added to the CRL. */
  async revokeDevice(deviceId: string): Promise<string[] | undefined> {
    const d = this.device(deviceId);
    if (!d) return undefined;
    const at = this.#iso();
    d.revokedAt ??= at;
    const added: string[] = [];
    for (const serial of d.serials.map((s) => s.toLowerCase())) {
      if (this.isRevokedSerial(serial)) continue;
      this.#state.revoked.push({ serial, deviceId, at });
      added.push(serial);
    }
    await this.#save();
    return added;
  }

  revoked(): Array<{ serial: string; at: string }> {
    return this.#state.revoked.map((r) => ({ serial: r.serial, at: r.at }));
  }
}

function publicPairing(p: PairingEntry): Pairing {
  const { spkiHash: _h, ...rest } = p;
  return { ...rest };
}

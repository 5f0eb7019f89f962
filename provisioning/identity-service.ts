import { EnrolErrorCode } from '../contract/errors.ts';
import { EnrolError, type IdentityState, type IdentityStatus } from '../contract/enrolment.ts';
import { Backoff } from '../lib/backoff.ts';
import type { Logger } from '../lib/log.ts';
import { IdentityStore } from './identity-store.ts';

// The box's certificate lifecycle while core runs: enrol by pairing code when
// `enrolment.url` is configured and the box has no identity yet (HQ answers
// 202 until an operator approves the code), renew by simplereenroll at 2/3 of
// the lifetime, and hand the cloud link its TLS material. Nothing here can
// stop selling: every failure is logged, kept for `identity show` and the
// health topics, and retried with backoff.

export interface IdentityServiceContext {
  stateDir: string;
  deviceId: string;
  storeId: string;
  enrolment: { url?: string | undefined; caFingerprint?: string | undefined };
  log: Logger;
  /** Called after a new certificate is in place (the cloud link reconnects with it). */
  onRotated?: () => void;
  /** The pairing code is shown (log, and the receipt printer when core has one). */
  onPairingCode?: (code: string) => void;
  now?: () => number;
  random?: () => number;
}

/** Longest single wait: timers are re-armed at least daily, so a clock jump is noticed. */
const MAX_WAIT_MS = 86_400_000;

export class IdentityService {
  readonly #ctx: IdentityServiceContext;
  readonly #store: IdentityStore;
  readonly #backoff: Backoff;
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  #running: Promise<void> | undefined;
  #lastError: IdentityStatus['lastError'];
  #shownCode: string | undefined;
  /** Rotations done since start. */
  rotations = 0;

  constructor(ctx: IdentityServiceContext) {
    this.#ctx = ctx;
    this.#store = new IdentityStore({ stateDir: ctx.stateDir });
    this.#backoff = new Backoff({ baseMs: 2_000, maxMs: 10 * 60_000, random: ctx.random });
  }

  get store(): IdentityStore {
    return this.#store;
  }

  #now(): number {
    return (this.#ctx.now ?? Date.now)();
  }

  start(): void {
    this.#stopped = false;
    this.#plan();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
  }

  /** Client certificate, key and HQ CA for the cloud link; undefined before enrolment. */
  tlsMaterial(): { cert: string; key: string; ca: string | undefined } | undefined {
    const id = this.#store.read();
    return id ? { cert: id.certPem, key: id.keyPem, ca: this.#store.caPem() } : undefined;
  }

  /** State and pairing code without I/O beyond small file reads (the box status asks every second). */
  summary(): { state: IdentityState; pairingCode?: string | undefined } {
    const enrolment = this.#store.enrolment();
    if (enrolment?.revokedAt) return { state: 'revoked' };
    const cert = this.#store.read()?.cert;
    if (cert) {
      const now = this.#now();
      return { state: now >= cert.notAfter.getTime() ? 'expired' : now >= (this.#store.renewAt() ?? Infinity) ? 'expiring' : 'enrolled' };
    }
    return this.#shownCode ? { state: 'pending', pairingCode: this.#shownCode } : { state: 'unenrolled' };
  }

  async status(): Promise<IdentityStatus> {
    return this.#store.status(this.#ctx.deviceId, this.#now(), this.#lastError ? { lastError: this.#lastError } : {});
  }

  #arm(delayMs: number, what: () => Promise<void>): void {
    if (this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    const wait = Math.max(0, Math.min(delayMs, MAX_WAIT_MS));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      // Past MAX_WAIT_MS only re-plan; the work runs when its time has come.
      const run = wait < delayMs ? async () => this.#plan() : what;
      this.#running = run()
        .catch((err: unknown) => {
          // Never an unhandled rejection: provisioning must not take core down. Try again later.
          this.#ctx.log.error({ err }, 'identity step failed');
          this.#arm(this.#backoff.next(), what);
        })
        .finally(() => (this.#running = undefined));
    }, wait);
    this.#timer.unref?.();
  }

  /** Decides what comes next: renewal, enrolment by pairing code, or nothing. */
  #plan(): void {
    const enrolment = this.#store.enrolment();
    if (enrolment?.revokedAt) {
      this.#ctx.log.error({ revokedAt: enrolment.revokedAt }, 'this box was revoked at HQ: sync stays off; selling continues (re-enrol with a new device id)');
      return;
    }
    const { url, caFingerprint } = this.#ctx.enrolment;
    const cert = this.#store.read()?.cert;
    if (cert && this.#now() >= cert.notAfter.getTime()) {
      // Expired: HQ no longer takes it for a renewal. With enrolment configured, pair again.
      this.#lastError = { code: EnrolErrorCode.Expired, message: `the certificate expired ${cert.notAfter.toISOString()}`, at: new Date(this.#now()).toISOString() };
      if (url && caFingerprint) this.#arm(0, () => this.#pair(url, caFingerprint));
      else this.#ctx.log.error({ notAfter: cert.notAfter.toISOString() }, 'the certificate expired: sync is off, selling continues; enrol again (tillbox enroll)');
      return;
    }
    const renewAt = this.#store.renewAt();
    if (renewAt !== undefined) {
      this.#arm(renewAt - this.#now(), () => this.#renew());
      return;
    }
    if (url && caFingerprint) this.#arm(0, () => this.#pair(url, caFingerprint));
  }

  #failed(err: unknown, what: string): number {
    const e = err instanceof EnrolError ? err : new EnrolError(EnrolErrorCode.Unreachable, (err as Error).message, { cause: err });
    this.#lastError = { code: e.code, message: e.message, at: new Date(this.#now()).toISOString() };
    if (e.code === EnrolErrorCode.Pending) return (e.retryAfterS ?? 10) * 1000;
    const delay = this.#backoff.next();
    this.#ctx.log.warn({ code: e.code, err: e.message, retryInMs: delay }, `${what} failed; selling continues`);
    return delay;
  }

  async #renew(): Promise<void> {
    try {
      // The X.509 toolkit loads only now: a box that is not renewing does not carry it.
      const { renew } = await import('./enrol.ts');
      const cert = await renew({ store: this.#store, deviceId: this.#ctx.deviceId, now: () => this.#now() });
      this.#backoff.reset();
      this.#lastError = undefined;
      this.rotations++;
      this.#ctx.log.info({ serial: cert.serialNumber, notAfter: cert.notAfter.toISOString() }, 'certificate renewed (new key)');
      this.#ctx.onRotated?.();
      this.#plan();
    } catch (err) {
      if (err instanceof EnrolError && err.code === EnrolErrorCode.Revoked) {
        this.#failed(err, 'certificate renewal');
        this.#plan();
        return;
      }
      this.#arm(this.#failed(err, 'certificate renewal'), () => this.#renew());
    }
  }

  async #pair(url: string, caFingerprint: string): Promise<void> {
    try {
      const { pairingCode } = await this.#store.pendingKey();
      if (this.#shownCode !== pairingCode) {
        this.#shownCode = pairingCode;
        // warn: the box does not sync until someone acts, and the installer must see it at any log level but error.
        this.#ctx.log.warn({ pairingCode, estUrl: url }, `not enrolled yet: pairing code ${pairingCode}; approve it at HQ (tillbox-hq pairing approve ${pairingCode} --store STORE)`);
        this.#ctx.onPairingCode?.(pairingCode);
      }
      const { enrol } = await import('./enrol.ts');
      const r = await enrol({ store: this.#store, deviceId: this.#ctx.deviceId, storeId: this.#ctx.storeId, url, caFingerprint, now: () => this.#now() });
      this.#backoff.reset();
      this.#lastError = undefined;
      this.#ctx.log.info({ storeId: r.storeId, serial: r.cert.serialNumber, notAfter: r.cert.notAfter.toISOString() }, 'enrolled at HQ');
      this.#ctx.onRotated?.();
      this.#plan();
    } catch (err) {
      this.#arm(this.#failed(err, 'enrolment'), () => this.#pair(url, caFingerprint));
    }
  }
}

import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../lib/atomic-file.ts';
import { EnrolErrorCode, ErrorCode, TillboxError } from '../../contract/errors.ts';
import { ENROL_DEVICE_ID_PATTERN, EnrolError, PAIRING_PASSWORD_PREFIX, PAIRING_RETRY_AFTER_S, pairingCode, TOKEN_TTL_DEFAULT_S, type Pairing, type TokenResponse } from '../../contract/enrolment.ts';
import { nameField, x509 } from '../../lib/x509.ts';
import type { Logger } from '../log.ts';
import { DeviceCa, type CaFiles } from './ca.ts';
import { EnrolmentRegistry } from './registry.ts';

// HQ's enrolment authority: decides who gets a certificate (a one-time token,
// an approved pairing code, or the current certificate for a renewal), issues
// it from the device CA, and keeps the CRL file current. The HTTPS EST
// listener (server.ts) and HQ's HTTP API (hq/http.ts) are its two faces.

export interface EnrolmentOptions {
  dataDir: string;
  caFiles?: CaFiles | undefined;
  /** Device certificate lifetime. */
  certLifetimeMs: number;
  log: Logger;
  now?: () => number;
}

/** The subject a renewal or enrolment is for, as the CSR states it (checked against the authorisation). */
function csrDeviceId(csr: x509.Pkcs10CertificateRequest): string {
  const cns = new x509.Name(csr.subjectName.toArrayBuffer()).getField('CN');
  const cn = cns.length === 1 ? String(cns[0]) : undefined;
  if (!cn) throw new EnrolError(EnrolErrorCode.BadMessage, 'the CSR must have exactly one CN (the device id)');
  if (!ENROL_DEVICE_ID_PATTERN.test(cn)) throw new EnrolError(EnrolErrorCode.BadMessage, `device id ${JSON.stringify(cn.slice(0, 80))} is not allowed: letters, digits, _ and - (max 64), no dots`);
  return cn;
}

export class EnrolmentService {
  readonly #o: EnrolmentOptions;
  readonly #now: () => number;
  #ca: DeviceCa | undefined;
  #registry: EnrolmentRegistry | undefined;
  /** Where the box is told to enrol (set by the EST listener once it listens). */
  estUrl = '';

  constructor(options: EnrolmentOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  get dir(): string {
    return join(this.#o.dataDir, 'est');
  }

  get crlFile(): string {
    return join(this.dir, 'crl.pem');
  }

  get ca(): DeviceCa {
    if (!this.#ca) throw new Error('enrolment service not started');
    return this.#ca;
  }

  get #reg(): EnrolmentRegistry {
    if (!this.#registry) throw new Error('enrolment service not started');
    return this.#registry;
  }

  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    this.#ca = await DeviceCa.open({ dir: this.dir, files: this.#o.caFiles });
    this.#registry = new EnrolmentRegistry({ file: join(this.dir, 'registry.json'), now: this.#now });
    await this.#writeCrl();
    this.#o.log.info({ caFingerprint: this.#ca.fingerprint, crl: this.crlFile }, 'device CA ready');
  }

  async createToken(storeId: string, deviceId: string | null, ttlSeconds = TOKEN_TTL_DEFAULT_S): Promise<TokenResponse> {
    const t = await this.#reg.createToken(storeId, deviceId, ttlSeconds * 1000);
    // The token itself is never logged: only what it is for.
    this.#o.log.info({ storeId, deviceId, expiresAt: t.expiresAt }, 'enrolment token created');
    return { token: t.token, storeId, deviceId, expiresAt: t.expiresAt, caFingerprint: this.ca.fingerprint, estUrl: this.estUrl };
  }

  pairings(): Pairing[] {
    return this.#reg.pairings();
  }

  async approvePairing(code: string, storeId: string): Promise<Pairing | undefined> {
    let p: Pairing | undefined;
    try {
      p = await this.#reg.approvePairing(code, storeId);
    } catch (err) {
      throw new TillboxError(ErrorCode.StateConflict, (err as Error).message);
    }
    if (p) this.#o.log.info({ code, deviceId: p.deviceId, storeId }, 'pairing approved');
    return p;
  }

  devices(): ReturnType<EnrolmentRegistry['devices']> {
    return this.#reg.devices();
  }

  /** Revokes the device's certificates and rewrites the CRL; undefined for an unknown device. */
  async revoke(deviceId: string): Promise<{ deviceId: string; serials: string[] } | undefined> {
    const added = await this.#reg.revokeDevice(deviceId);
    if (added === undefined) return undefined;
    await this.#writeCrl();
    this.#o.log.warn({ deviceId, serials: added }, 'device revoked; CRL rewritten');
    return { deviceId, serials: added };
  }

  async crlPem(): Promise<string> {
    return this.ca.crl(this.#reg.revoked(), 7 * 86_400_000, this.#now());
  }

  async #writeCrl(): Promise<void> {
    await writeFileAtomic(this.crlFile, await this.crlPem(), { durability: 'durable', mode: 0o644 });
  }

  /**
   * simpleenroll: HTTP Basic username = device id, password = a one-time
   * token or `pairing:<code>`. Returns the certificate, or throws an
   * EnrolError (Pending with Retry-After while a code awaits approval).
   */
  async enrol(csrBase64: string, auth: { username: string; password: string }, address: string): Promise<x509.X509Certificate> {
    const csr = await this.#verifiedCsr(csrBase64);
    const deviceId = csrDeviceId(csr);
    if (deviceId !== auth.username) throw new EnrolError(EnrolErrorCode.BadMessage, `the CSR is for ${JSON.stringify(deviceId)} but the request authenticates ${JSON.stringify(auth.username)}`);
    const known = this.#reg.device(deviceId);
    if (known?.revokedAt) throw new EnrolError(EnrolErrorCode.Revoked, `device ${deviceId} is revoked; it cannot enrol again`);
    // A device id that holds a valid certificate is not up for grabs: it renews with that
    // certificate. Enrolling it again takes a token bound to it (checked below).
    const holdsValid = known !== undefined && Date.parse(known.notAfter) > this.#now();
    let storeId: string;
    if (auth.password.startsWith(PAIRING_PASSWORD_PREFIX)) {
      const code = auth.password.slice(PAIRING_PASSWORD_PREFIX.length);
      const spki = new Uint8Array(csr.publicKey.rawData);
      if (pairingCode(spki) !== code) throw new EnrolError(EnrolErrorCode.BadMessage, 'the pairing code does not belong to the key in the CSR');
      if (holdsValid)
        throw new EnrolError(EnrolErrorCode.TokenRefused, `device ${deviceId} is enrolled already; enrol it again with a token bound to it (tillbox-hq token create --device ${deviceId})`);
      let p: Pairing;
      try {
        p = await this.#reg.seePairing(code, deviceId, address, createHash('sha256').update(spki).digest('hex'));
      } catch (err) {
        throw new EnrolError(EnrolErrorCode.TokenRefused, (err as Error).message);
      }
      if (p.status === 'pending' || !p.storeId) throw new EnrolError(EnrolErrorCode.Pending, `pairing code ${code} waits for approval at HQ`, { retryAfterS: PAIRING_RETRY_AFTER_S });
      storeId = p.storeId;
      const cert = await this.#issue(csr, deviceId, storeId);
      await this.#reg.markPairingIssued(code);
      return cert;
    }
    if (holdsValid && !this.#reg.tokenBoundTo(auth.password, deviceId, known!.storeId)) {
      this.#o.log.warn({ deviceId, address }, 'enrolment of an enrolled device id without a token bound to it refused');
      throw new EnrolError(EnrolErrorCode.TokenRefused, `device ${deviceId} is enrolled already; enrol it again with a token bound to it (tillbox-hq token create --device ${deviceId})`);
    }
    const check = await this.#reg.spendToken(auth.password, deviceId);
    if (!check.ok) {
      const why = { unknown: 'is not known', used: 'was already used', expired: 'has expired', device: 'is for another device' }[check.reason];
      this.#o.log.warn({ deviceId, reason: check.reason, address }, 'enrolment refused');
      throw new EnrolError(EnrolErrorCode.TokenRefused, `the enrolment token ${why}`);
    }
    storeId = check.storeId;
    return this.#issue(csr, deviceId, storeId);
  }

  /** simplereenroll: authenticated by the current certificate (verified by TLS against the CA). */
  async reenrol(csrBase64: string, current: x509.X509Certificate): Promise<x509.X509Certificate> {
    const csr = await this.#verifiedCsr(csrBase64);
    const deviceId = nameField(current.subject, 'CN');
    const storeId = nameField(current.subject, 'OU');
    if (!deviceId || !storeId) throw new EnrolError(EnrolErrorCode.BadMessage, 'the client certificate has no device and store');
    const known = this.#reg.device(deviceId);
    if (this.#reg.isRevokedSerial(current.serialNumber) || known?.revokedAt) throw new EnrolError(EnrolErrorCode.Revoked, `device ${deviceId} is revoked`);
    // Only the device's current certificate renews (or the one before it, when the box never
    // received its last renewal), and only for the store HQ has on record.
    const serial = current.serialNumber.toLowerCase();
    if (!known?.serials.slice(-2).includes(serial) || known.storeId !== storeId) {
      throw new EnrolError(EnrolErrorCode.TokenRefused, `this certificate of ${deviceId} is superseded or unknown; renew with the current one or enrol again`);
    }
    if (csrDeviceId(csr) !== deviceId) throw new EnrolError(EnrolErrorCode.BadMessage, 'the CSR names another device than the certificate');
    return this.#issue(csr, deviceId, storeId);
  }

  async #verifiedCsr(csrBase64: string): Promise<x509.Pkcs10CertificateRequest> {
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(Buffer.from(csrBase64.replace(/\s+/g, ''), 'base64'));
    } catch {
      throw new EnrolError(EnrolErrorCode.BadMessage, 'the body is not a base64 PKCS#10 certificate request');
    }
    if (!(await csr.verify())) throw new EnrolError(EnrolErrorCode.BadMessage, 'the CSR signature does not verify (proof of possession failed)');
    return csr;
  }

  async #issue(csr: x509.Pkcs10CertificateRequest, deviceId: string, storeId: string): Promise<x509.X509Certificate> {
    const cert = await this.ca.issueDevice(csr, { deviceId, storeId }, this.#o.certLifetimeMs, this.#now());
    await this.#reg.recordIssued(deviceId, storeId, cert.serialNumber.toLowerCase(), cert.notAfter.toISOString());
    this.#o.log.info({ deviceId, storeId, serial: cert.serialNumber, notAfter: cert.notAfter.toISOString() }, 'device certificate issued');
    return cert;
  }
}

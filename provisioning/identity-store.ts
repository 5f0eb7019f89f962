import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../lib/atomic-file.ts';
import { certFingerprint, pairingCode, RENEW_AT_FRACTION, type IdentityState, type IdentityStatus } from '../contract/enrolment.ts';
import { generateKeyPair, keyPairFromPem, privateKeyToPem, spkiOf, type KeyPair } from '../lib/keys.ts';

// The box's identity on disk, in <state>/identity (0700):
//   identity.pem   the private key (PKCS#8) and the certificate chain, in ONE
//                  file (0600): a rotation replaces both with one rename, so
//                  a power cut leaves the old pair or the new one, never a
//                  key that does not match its certificate.
//   pending-key.pem  the key of an enrolment in progress (0600): the pairing
//                  code is derived from it, so it survives restarts.
//   ca.pem         HQ's device CA, pinned at enrolment (fingerprint checked).
//   enrolment.json where and how the box enrolled, and a revocation if HQ said so.
// Key material never leaves these files: not in a log, the journal, or a message.

export interface Enrolment {
  estUrl: string;
  caFingerprint: string;
  storeId: string;
  enrolledAt: string;
  renewedAt?: string;
  revokedAt?: string;
}

/** What the box needs to know of its certificate, read with Node's own X509Certificate (no toolkit loaded). */
export interface CertInfo {
  /** `CN=<device>, OU=<store>` */
  subject: string;
  issuer: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 of the DER, lower-case hex. */
  fingerprint: string;
  cn: string | undefined;
  ou: string | undefined;
}

export interface Identity {
  keyPem: string;
  /** The device certificate first, then its issuers (PEM). */
  certPem: string;
  cert: CertInfo;
}

function field(name: string, key: 'CN' | 'OU'): string | undefined {
  return name
    .split('\n')
    .find((l) => l.startsWith(`${key}=`))
    ?.slice(key.length + 1);
}

/** Reads the first certificate of a PEM text. */
export function certInfo(pem: string): CertInfo {
  const c = new X509Certificate(pem);
  return {
    subject: c.subject.split('\n').join(', '),
    issuer: c.issuer.split('\n').join(', '),
    serial: c.serialNumber.toLowerCase(),
    notBefore: new Date(Date.parse(c.validFrom)),
    notAfter: new Date(Date.parse(c.validTo)),
    fingerprint: certFingerprint(new Uint8Array(c.raw)),
    cn: field(c.subject, 'CN'),
    ou: field(c.subject, 'OU'),
  };
}

export class IdentityStore {
  readonly dir: string;

  constructor(opts: { stateDir: string }) {
    this.dir = join(opts.stateDir, 'identity');
  }

  get identityFile(): string {
    return join(this.dir, 'identity.pem');
  }

  get #pendingFile(): string {
    return join(this.dir, 'pending-key.pem');
  }

  get caFile(): string {
    return join(this.dir, 'ca.pem');
  }

  get #enrolmentFile(): string {
    return join(this.dir, 'enrolment.json');
  }

  #cached: { key: string; identity: Identity | undefined } | undefined;

  /**
   * The current identity, or undefined before the first enrolment. Asked every
   * second (box status) and at every connect: parsed again only when the file
   * changed (a rotation, or `tillbox enroll` beside a running core).
   */
  read(): Identity | undefined {
    let st: { mtimeMs: number; size: number; ino: number };
    try {
      st = statSync(this.identityFile);
    } catch {
      this.#cached = undefined;
      return undefined;
    }
    // Every write is a rename of a new file: a new inode says it changed.
    const key = `${st.ino}:${st.mtimeMs}:${st.size}`;
    if (this.#cached?.key === key) return this.#cached.identity;
    const identity = this.#parse(readFileSync(this.identityFile, 'utf8'));
    this.#cached = { key, identity };
    return identity;
  }

  #parse(text: string): Identity | undefined {
    const end = text.indexOf('-----END PRIVATE KEY-----');
    if (end < 0) return undefined;
    const keyPem = text.slice(0, end + '-----END PRIVATE KEY-----'.length) + '\n';
    const certPem = text.slice(end + '-----END PRIVATE KEY-----'.length).trim() + '\n';
    if (!certPem.includes('-----BEGIN CERTIFICATE-----')) return undefined;
    return { keyPem, certPem, cert: certInfo(certPem) };
  }

  /** File mode of the identity file (tests, doctor). */
  mode(): number | undefined {
    return existsSync(this.identityFile) ? statSync(this.identityFile).mode & 0o777 : undefined;
  }

  caPem(): string | undefined {
    return existsSync(this.caFile) ? readFileSync(this.caFile, 'utf8') : undefined;
  }

  enrolment(): Enrolment | undefined {
    return existsSync(this.#enrolmentFile) ? (JSON.parse(readFileSync(this.#enrolmentFile, 'utf8')) as Enrolment) : undefined;
  }

  async #mkdir(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  /** The key of the enrolment in progress (created once, durable, 0600) and its pairing code. */
  async pendingKey(): Promise<{ keys: KeyPair; pem: string; pairingCode: string }> {
    await this.#mkdir();
    let pem: string;
    if (existsSync(this.#pendingFile)) pem = readFileSync(this.#pendingFile, 'utf8');
    else {
      pem = await privateKeyToPem((await generateKeyPair()).privateKey);
      await writeFileAtomic(this.#pendingFile, pem, { durability: 'durable', mode: 0o600 });
    }
    const keys = await keyPairFromPem(pem);
    return { keys, pem, pairingCode: pairingCode(await spkiOf(keys.publicKey)) };
  }

  /** The pairing code of the pending key, if an enrolment is in progress. */
  async pendingPairingCode(): Promise<string | undefined> {
    if (!existsSync(this.#pendingFile)) return undefined;
    const keys = await keyPairFromPem(readFileSync(this.#pendingFile, 'utf8'));
    return pairingCode(await spkiOf(keys.publicKey));
  }

  /** Stores a new key and chain (PEM, device certificate first) in one atomic, durable replace; the pending key (if it was this one) goes. */
  async save(keyPem: string, chainPem: string, enrolment: Enrolment, caPem?: string): Promise<void> {
    await this.#mkdir();
    if (caPem !== undefined) await writeFileAtomic(this.caFile, caPem, { durability: 'durable', mode: 0o644 });
    await writeFileAtomic(this.identityFile, `${keyPem.trimEnd()}\n${chainPem.trim()}\n`, { durability: 'durable', mode: 0o600 });
    await writeFileAtomic(this.#enrolmentFile, JSON.stringify(enrolment, null, 2) + '\n', { durability: 'durable', mode: 0o644 });
    if (existsSync(this.#pendingFile) && readFileSync(this.#pendingFile, 'utf8') === keyPem) {
      await rm(this.#pendingFile, { force: true });
    }
  }

  async markRevoked(at: string): Promise<void> {
    const e = this.enrolment();
    if (!e || e.revokedAt) return;
    await writeFileAtomic(this.#enrolmentFile, JSON.stringify({ ...e, revokedAt: at }, null, 2) + '\n', { durability: 'durable', mode: 0o644 });
  }

  /** When the current certificate should be renewed (RENEW_AT_FRACTION of its lifetime), or undefined. */
  renewAt(): number | undefined {
    const cert = this.read()?.cert;
    if (!cert) return undefined;
    const from = cert.notBefore.getTime();
    return from + (cert.notAfter.getTime() - from) * RENEW_AT_FRACTION;
  }

  /** What `tillbox identity show` prints. */
  async status(deviceId: string, now = Date.now(), extra: Partial<IdentityStatus> = {}): Promise<IdentityStatus> {
    const id = this.read();
    const enrolment = this.enrolment();
    const cert = id?.cert;
    let state: IdentityState = 'unenrolled';
    if (enrolment?.revokedAt) state = 'revoked';
    else if (cert) {
      const renewAt = this.renewAt()!;
      state = now >= cert.notAfter.getTime() ? 'expired' : now >= renewAt ? 'expiring' : 'enrolled';
    } else if (existsSync(this.#pendingFile)) state = 'pending';
    const out: IdentityStatus = {
      deviceId,
      storeId: cert?.ou ?? null,
      state,
      subject: cert?.subject ?? null,
      issuer: cert?.issuer ?? null,
      serial: cert?.serial ?? null,
      notBefore: cert?.notBefore.toISOString() ?? null,
      notAfter: cert?.notAfter.toISOString() ?? null,
      fingerprint: cert?.fingerprint ?? null,
      daysLeft: cert ? Math.round(((cert.notAfter.getTime() - now) / 86_400_000) * 100) / 100 : null,
      ...extra,
    };
    if (!cert) {
      const code = await this.pendingPairingCode();
      if (code) out.pairingCode = code;
    }
    if (enrolment?.estUrl) out.estUrl = enrolment.estUrl;
    return out;
  }
}

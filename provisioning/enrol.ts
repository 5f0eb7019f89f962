import { EnrolErrorCode } from '../contract/errors.ts';
import { CLOCK_SKEW_MAX_MS, certFingerprint, ENROL_DEVICE_ID_PATTERN, EnrolError, normaliseFingerprint, PAIRING_PASSWORD_PREFIX } from '../contract/enrolment.ts';
import { EC_SIGN, generateKeyPair, nameField, pemOf, privateKeyToPem, spkiOf, x509, type KeyPair } from '../lib/x509.ts';
import { EstClient } from './est-client.ts';
import type { IdentityStore } from './identity-store.ts';

// One enrolment, the way RFC 7030 bootstraps trust (§4.1.1): fetch the CA
// without trusting anyone, keep it only if its SHA-256 matches the
// fingerprint the installer got out of band, then talk to HQ with that CA
// pinned: check the clocks agree, send a CSR signed by a key made here, check
// the certificate HQ returns is for that key and this device, store it.

export interface EnrolOptions {
  store: IdentityStore;
  deviceId: string;
  /** The store id the box believes it is in (OU of the CSR; HQ decides the certificate's OU). */
  storeId?: string | undefined;
  url: string;
  caFingerprint: string;
  /** A one-time token, or absent to enrol by pairing code. */
  token?: string | undefined;
  now?: () => number;
  onProgress?: (step: string) => void;
  timeoutMs?: number;
}

export interface EnrolResult {
  cert: x509.X509Certificate;
  storeId: string;
  caFingerprint: string;
}

/** Fetches HQ's CA and keeps it only if it matches the pinned fingerprint; checks the clock. */
export async function pinnedCa(url: string, caFingerprint: string, now: () => number, timeoutMs?: number): Promise<x509.X509Certificate> {
  const want = normaliseFingerprint(caFingerprint);
  if (!want) throw new EnrolError(EnrolErrorCode.Fingerprint, `--ca-fingerprint must be a SHA-256 in hex (64 digits, colons allowed), got ${JSON.stringify(caFingerprint)}`);
  const res = await new EstClient({ url, timeoutMs }).cacerts();
  checkClock(res.date, now());
  const ca = res.certs.find((c) => certFingerprint(new Uint8Array(c.rawData)) === want);
  if (!ca) {
    const got = res.certs.map((c) => certFingerprint(new Uint8Array(c.rawData))).join(', ');
    throw new EnrolError(EnrolErrorCode.Fingerprint, `HQ's CA does not match the fingerprint: expected ${want}, HQ sent ${got || 'no certificate'}`);
  }
  return ca;
}

function checkClock(hqDate: number | undefined, now: number): void {
  if (hqDate === undefined) return;
  const skew = now - hqDate;
  if (Math.abs(skew) > CLOCK_SKEW_MAX_MS) {
    const min = Math.round(Math.abs(skew) / 60_000);
    throw new EnrolError(
      EnrolErrorCode.ClockSkew,
      `the box's clock is ${min} min ${skew > 0 ? 'ahead of' : 'behind'} HQ's (limit ${CLOCK_SKEW_MAX_MS / 60_000} min): set the time (timedatectl, NTP) and enrol again`,
    );
  }
}

export async function csrFor(keys: KeyPair, deviceId: string, storeId: string | undefined): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: storeId ? `CN=${deviceId}, OU=${storeId}` : `CN=${deviceId}`,
    keys,
    signingAlgorithm: EC_SIGN,
  });
  return Buffer.from(csr.rawData).toString('base64');
}

/** Checks that HQ's certificate is for our key and device and issued by the pinned CA. */
export async function checkIssued(certs: x509.X509Certificate[], keys: KeyPair, deviceId: string, ca: x509.X509Certificate): Promise<x509.X509Certificate> {
  const cert = certs[0];
  if (!cert) throw new EnrolError(EnrolErrorCode.BadMessage, 'HQ answered without a certificate');
  const ours = Buffer.from(await spkiOf(keys.publicKey));
  if (!Buffer.from(cert.publicKey.rawData).equals(ours)) throw new EnrolError(EnrolErrorCode.BadMessage, 'the certificate HQ returned is not for this key');
  if (nameField(cert.subject, 'CN') !== deviceId) throw new EnrolError(EnrolErrorCode.BadMessage, `the certificate HQ returned is for ${cert.subject}, not ${deviceId}`);
  if (!(await cert.verify({ publicKey: ca, signatureOnly: true }))) throw new EnrolError(EnrolErrorCode.BadMessage, 'the certificate HQ returned is not signed by the pinned CA');
  return cert;
}

export async function enrol(o: EnrolOptions): Promise<EnrolResult> {
  const now = o.now ?? Date.now;
  if (!ENROL_DEVICE_ID_PATTERN.test(o.deviceId)) {
    throw new EnrolError(EnrolErrorCode.BadMessage, `device id ${JSON.stringify(o.deviceId)} cannot be certified (letters, digits, _ and -, no dots): change device.id`);
  }
  const progress = o.onProgress ?? (() => undefined);
  progress(`fetching HQ's CA from ${o.url}`);
  const ca = await pinnedCa(o.url, o.caFingerprint, now, o.timeoutMs);
  const caPem = pemOf([ca]);
  progress('CA matches the fingerprint; creating a key on this box');
  let keys: KeyPair;
  let keyPem: string;
  let password: string;
  if (o.token) {
    keys = await generateKeyPair();
    keyPem = await privateKeyToPem(keys.privateKey);
    password = o.token;
  } else {
    const pending = await o.store.pendingKey();
    keys = pending.keys;
    keyPem = pending.pem;
    password = `${PAIRING_PASSWORD_PREFIX}${pending.pairingCode}`;
    progress(`pairing code ${pending.pairingCode}`);
  }
  progress('sending the certificate request');
  const client = new EstClient({ url: o.url, ca: caPem, timeoutMs: o.timeoutMs });
  const res = await client.simpleenroll(await csrFor(keys, o.deviceId, o.storeId), o.deviceId, password);
  const cert = await checkIssued(res.certs, keys, o.deviceId, ca);
  const storeId = nameField(cert.subject, 'OU') ?? o.storeId ?? '';
  const fp = certFingerprint(new Uint8Array(ca.rawData));
  await o.store.save(keyPem, pemOf([cert, ca]), { estUrl: o.url, caFingerprint: fp, storeId, enrolledAt: new Date(now()).toISOString() }, caPem);
  return { cert, storeId, caFingerprint: fp };
}

/** simplereenroll with the current certificate: a new key each time, swapped in atomically. */
export async function renew(o: { store: IdentityStore; deviceId: string; now?: () => number; timeoutMs?: number }): Promise<x509.X509Certificate> {
  const id = o.store.read();
  const enrolment = o.store.enrolment();
  const caPem = o.store.caPem();
  if (!id || !enrolment || !caPem) throw new EnrolError(EnrolErrorCode.NotEnrolled, 'this box is not enrolled: run tillbox enroll');
  const ca = new x509.X509Certificate(caPem);
  const keys = await generateKeyPair();
  const client = new EstClient({ url: enrolment.estUrl, ca: caPem, cert: id.certPem, key: id.keyPem, timeoutMs: o.timeoutMs });
  const storeId = id.cert.ou;
  let res: Awaited<ReturnType<EstClient['simplereenroll']>>;
  try {
    res = await client.simplereenroll(await csrFor(keys, o.deviceId, storeId));
  } catch (err) {
    if (err instanceof EnrolError && err.code === EnrolErrorCode.Revoked) await o.store.markRevoked(new Date((o.now ?? Date.now)()).toISOString());
    throw err;
  }
  const cert = await checkIssued(res.certs, keys, o.deviceId, ca);
  await o.store.save(await privateKeyToPem(keys.privateKey), pemOf([cert, ca]), { ...enrolment, renewedAt: new Date((o.now ?? Date.now)()).toISOString() });
  return cert;
}

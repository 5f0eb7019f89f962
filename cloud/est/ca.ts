import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { writeFileAtomic } from '../../lib/atomic-file.ts';
import { certFingerprint } from '../../contract/enrolment.ts';
import { EC_SIGN, generateKeyPair, keyPairFromPem, privateKeyToPem, randomSerial, x509, type KeyPair } from '../../lib/x509.ts';

// HQ's device CA: a P-256 root generated at first start in HQ_DATA_DIR/est
// (or given by HQ_CA_CERT_FILE / HQ_CA_KEY_FILE), which signs short-lived
// device certificates (CN = device id, OU = store id, clientAuth), the EST
// server's own TLS certificate, and the CRL Mosquitto reads (crlfile).

export interface CaFiles {
  certFile: string;
  keyFile: string;
}

/**
 * Certificates start a little in the past, so a box whose clock is slightly
 * behind accepts them: 5 min, or 5 % of a short (test) lifetime, so the
 * renewal point (a fraction of notBefore..notAfter) stays where it belongs.
 */
const BACKDATE_MS = 5 * 60_000;
const backdate = (lifetimeMs: number): number => Math.min(BACKDATE_MS, Math.floor(lifetimeMs * 0.05));

export class DeviceCa {
  readonly cert: x509.X509Certificate;
  readonly #keys: KeyPair;
  readonly certPem: string;

  private constructor(cert: x509.X509Certificate, keys: KeyPair) {
    this.cert = cert;
    this.#keys = keys;
    this.certPem = cert.toString('pem') + '\n';
  }

  /** SHA-256 of the CA certificate (what installers pass to `tillbox enroll --ca-fingerprint`). */
  get fingerprint(): string {
    return certFingerprint(new Uint8Array(this.cert.rawData));
  }

  /** Loads the CA from `files`, or from `dir` (creating it there at first start). */
  static async open(opts: { dir: string; files?: CaFiles | undefined; name?: string }): Promise<DeviceCa> {
    if (opts.files) return DeviceCa.#load(opts.files.certFile, opts.files.keyFile);
    const certFile = join(opts.dir, 'ca.crt');
    const keyFile = join(opts.dir, 'ca.key');
    if (existsSync(certFile) && existsSync(keyFile)) return DeviceCa.#load(certFile, keyFile);
    await mkdir(opts.dir, { recursive: true, mode: 0o700 });
    const keys = await generateKeyPair();
    const now = Date.now();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: `CN=${opts.name ?? 'tillbox HQ device CA'}`,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + 10 * 365 * 86_400_000),
      keys,
      signingAlgorithm: EC_SIGN,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    // Key first and 0600 from creation; both durable: losing the CA strands every box.
    await writeFileAtomic(keyFile, await privateKeyToPem(keys.privateKey), { durability: 'durable', mode: 0o600 });
    await writeFileAtomic(certFile, cert.toString('pem') + '\n', { durability: 'durable', mode: 0o644 });
    return new DeviceCa(cert, keys);
  }

  static async #load(certFile: string, keyFile: string): Promise<DeviceCa> {
    const cert = new x509.X509Certificate(readFileSync(certFile, 'utf8'));
    const keys = await keyPairFromPem(readFileSync(keyFile, 'utf8'));
    return new DeviceCa(cert, keys);
  }

  /** A device certificate for a verified CSR: the subject is set here (CN device, OU store), never copied from the CSR. */
  async issueDevice(csr: x509.Pkcs10CertificateRequest, subject: { deviceId: string; storeId: string }, lifetimeMs: number, now = Date.now()): Promise<x509.X509Certificate> {
    return x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      // Built as a structure, never by string: a name with ',' or '+' cannot add attributes.
      subject: [{ CN: [subject.deviceId] }, { OU: [subject.storeId] }],
      issuer: this.cert.subject,
      notBefore: new Date(now - backdate(lifetimeMs)),
      notAfter: new Date(now + lifetimeMs),
      publicKey: csr.publicKey,
      signingKey: this.#keys.privateKey,
      signingAlgorithm: EC_SIGN,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        // clientAuth for the cloud broker; serverAuth so the box's LAN listeners can present it,
        // for <device id>.local only (dot-free ids: no certificate names another host). The box
        // refuses a certificate with clientAuth from anyone it talks to as a client (HQ's EST
        // server, the cloud broker): one box's certificate can never impersonate HQ to another.
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: `${subject.deviceId}.local` }]),
        await x509.AuthorityKeyIdentifierExtension.create(this.#keys.publicKey),
        await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
      ],
    });
  }

  /** A TLS server certificate (the EST listener, or a broker) for these host names and addresses. */
  async issueServer(hosts: string[], lifetimeMs: number): Promise<{ certPem: string; keyPem: string }> {
    const keys = await generateKeyPair();
    const now = Date.now();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: `CN=${hosts[0] ?? 'localhost'}`,
      issuer: this.cert.subject,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + lifetimeMs),
      publicKey: keys.publicKey,
      signingKey: this.#keys.privateKey,
      signingAlgorithm: EC_SIGN,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(hosts.map((h) => (isIP(h) ? { type: 'ip' as const, value: h } : { type: 'dns' as const, value: h }))),
        await x509.AuthorityKeyIdentifierExtension.create(this.#keys.publicKey),
      ],
    });
    return { certPem: cert.toString('pem') + '\n' + this.certPem, keyPem: await privateKeyToPem(keys.privateKey) };
  }

  /** A CRL listing the revoked serials (PEM, for Mosquitto's crlfile and GET /crl). */
  async crl(revoked: Array<{ serial: string; at: string }>, validityMs: number, now = Date.now()): Promise<string> {
    const crl = await x509.X509CrlGenerator.create({
      issuer: this.cert.subject,
      thisUpdate: new Date(now),
      nextUpdate: new Date(now + validityMs),
      entries: revoked.map((r) => ({ serialNumber: r.serial, revocationDate: new Date(r.at) })),
      signingKey: this.#keys.privateKey,
      signingAlgorithm: EC_SIGN,
      extensions: [await x509.AuthorityKeyIdentifierExtension.create(this.#keys.publicKey)],
    });
    // OpenSSL (Mosquitto's crlfile) reads the 'X509 CRL' PEM label.
    return x509.PemConverter.encode(crl.rawData, 'X509 CRL') + '\n';
  }
}

// tsyringe (inside @peculiar/x509) needs the Reflect metadata API before it loads.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// The X.509 toolkit both sides use (@peculiar/x509 over WebCrypto): CSRs,
// certificates, PKCS#7 certs-only for EST (RFC 7030 §4.1.3), CRLs. Keys and
// their PEM form are lib/keys.ts (re-exported here). Loaded only where
// certificates are made or parsed in depth: HQ, and the box while it enrols.

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };

export { EC_KEY, EC_SIGN, generateKeyPair, keyPairFromPem, privateKeyToPem, spkiOf, type Key, type KeyPair } from './keys.ts';

/** Base64 DER of a PKCS#7 certs-only bundle (the EST response body). */
export function toPkcs7Base64(certs: x509.X509Certificate[]): string {
  return Buffer.from(new x509.X509Certificates(certs).export('raw')).toString('base64');
}

export function fromPkcs7Base64(body: string): x509.X509Certificate[] {
  const der = Buffer.from(body.replace(/\s+/g, ''), 'base64');
  return [...new x509.X509Certificates(der)];
}

export function pemOf(certs: x509.X509Certificate[]): string {
  return certs.map((c) => c.toString('pem')).join('\n') + '\n';
}

/** Every certificate in a PEM text, in order. */
export function certsFromPem(pem: string): x509.X509Certificate[] {
  return x509.PemConverter.decodeWithHeaders(pem)
    .filter((p) => p.type === 'CERTIFICATE')
    .map((p) => new x509.X509Certificate(p.rawData));
}

/** A positive random serial, hex (RFC 5280 §4.1.2.2: at most 20 octets). */
export function randomSerial(): string {
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = b[0]! & 0x7f;
  return Buffer.from(b).toString('hex');
}

/** The value of one attribute (CN, OU) of a distinguished name, or undefined. */
export function nameField(name: x509.Name | string, field: 'CN' | 'OU'): string | undefined {
  const n = typeof name === 'string' ? new x509.Name(name) : name;
  const v = n.getField(field)[0];
  return v === undefined ? undefined : String(v);
}

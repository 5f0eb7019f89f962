// tsyringe (inside @peculiar/x509) needs the Reflect metadata API before it loads.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// The X.509 toolkit both sides use (@peculiar/x509 over WebCrypto): ECDSA
// P-256 keys, PKCS#8 PEM for keys at rest, PKCS#7 certs-only for EST (RFC
// 7030 §4.1.3). One place sets the crypto provider and the algorithms.

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export type Key = webcrypto.CryptoKey;
export type KeyPair = webcrypto.CryptoKeyPair;

export { x509 };
export const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const EC_SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;

export async function generateKeyPair(): Promise<KeyPair> {
  // extractable: the private key must be written to the state dir (0600); it never leaves the box.
  return (await webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify'])) as KeyPair;
}

export async function privateKeyToPem(key: Key): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/** A PKCS#8 PEM private key and its public key (derived through a JWK, since PKCS#8 import yields only the private half). */
export async function keyPairFromPem(pem: string): Promise<KeyPair> {
  const der = x509.PemConverter.decodeFirst(pem);
  const priv = await webcrypto.subtle.importKey('pkcs8', der, EC_KEY, true, ['sign']);
  const jwk = await webcrypto.subtle.exportKey('jwk', priv);
  const pub = await webcrypto.subtle.importKey('jwk', { kty: jwk.kty!, crv: jwk.crv!, x: jwk.x!, y: jwk.y! }, EC_KEY, true, ['verify']);
  return { privateKey: priv, publicKey: pub };
}

export async function spkiOf(publicKey: Key): Promise<Uint8Array> {
  return new Uint8Array(await webcrypto.subtle.exportKey('spki', publicKey));
}

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

import { webcrypto } from 'node:crypto';

// ECDSA P-256 keys over WebCrypto and their PKCS#8 PEM form, without the X.509
// toolkit (lib/x509.ts): the box's core loads this at start, and @peculiar/x509
// (about 20 MB and 80 ms) only when it actually enrols or renews.

export type Key = webcrypto.CryptoKey;
export type KeyPair = webcrypto.CryptoKeyPair;
export const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const EC_SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;

export async function generateKeyPair(): Promise<KeyPair> {
  // extractable: the private key must be written to the state dir (0600); it never leaves the box.
  return (await webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify'])) as KeyPair;
}

/** RFC 7468 textual encoding: base64 in 64-character lines between BEGIN/END labels. */
export function pemEncode(der: ArrayBuffer | Uint8Array, label: string): string {
  const b64 = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END ${label}-----`;
}

/** The DER of the first PEM block with this label. */
export function pemDecode(pem: string, label: string): Uint8Array {
  const m = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(pem);
  if (!m) throw new Error(`no ${label} in the PEM text`);
  return new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
}

export async function privateKeyToPem(key: Key): Promise<string> {
  return pemEncode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** A PKCS#8 PEM private key and its public key (derived through a JWK, since PKCS#8 import yields only the private half). */
export async function keyPairFromPem(pem: string): Promise<KeyPair> {
  const priv = await webcrypto.subtle.importKey('pkcs8', pemDecode(pem, 'PRIVATE KEY'), EC_KEY, true, ['sign']);
  const jwk = await webcrypto.subtle.exportKey('jwk', priv);
  const pub = await webcrypto.subtle.importKey('jwk', { kty: jwk.kty!, crv: jwk.crv!, x: jwk.x!, y: jwk.y! }, EC_KEY, true, ['verify']);
  return { privateKey: priv, publicKey: pub };
}

export async function spkiOf(publicKey: Key): Promise<Uint8Array> {
  return new Uint8Array(await webcrypto.subtle.exportKey('spki', publicKey));
}

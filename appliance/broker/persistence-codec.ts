import { deserialize, serialize } from 'node:v8';

// How the broker store encodes what aedes gives it (appliance/broker/persistence.ts).
/** The subset of an aedes packet the adapter relies on. */
export interface StoredPacket {
  cmd?: string;
  topic: string;
  payload: Buffer | string;
  qos?: number;
  retain?: boolean;
  brokerId?: string;
  brokerCounter?: number;
  messageId?: number;
  [k: string]: unknown;
}

// Values are v8-serialised (keeps Buffers as Buffers, no extra dependency),
// except the plain QoS > 0 publish packets that make up nearly every write:
// those get a fixed binary layout, several times cheaper to write and read
// than v8's (de)serializer, which was a top cost per message. The first
// byte tells them apart: v8's format starts with its version tag 0xFF.
//
//   0  0x01
//   1  flags: 1 retain, 2 dup, 4 messageId set, 8 brokerId set, 16 brokerCounter set,
//            32 clientId present
//   2  qos (bits 0-1); nl (bits 4-5): 0 absent, 1 undefined, 2 false, 3 true
//   3  messageId (u16)         5  brokerCounter (f64)
//  13  brokerId bytes (u16)   15  topic bytes (u16)   17  payload bytes (u32)
//  21  clientId bytes (u16)
//  23  brokerId, clientId, topic, payload
// clientId and nl are the publisher's, kept by aedes-packet for no-local.
const PLAIN = 0x01;
export const PLAIN_HEADER = 23;
const PLAIN_KEYS = ['properties', 'messageExpiry'] as const;
const EXTRA_KEYS = ['clientId', 'nl', 'properties', 'messageExpiry'] as const;

export const encode = (v: unknown): Buffer => serialize(v);
export function decode<T>(b: Buffer): T {
  return (b[0] === PLAIN ? decodePlain(b) : deserialize(b)) as T;
}

// A copy of the packet fields aedes-packet keeps, without class identity.
// (messageId is explicit: a default parameter would replace an explicit undefined.)
export function plainPacket(p: StoredPacket, messageId: number | undefined): StoredPacket {
  const out: StoredPacket = {
    cmd: p.cmd ?? 'publish',
    brokerId: p.brokerId,
    brokerCounter: p.brokerCounter,
    topic: p.topic,
    payload: p.payload,
    qos: p.qos ?? 0,
    retain: p.retain ?? false,
    dup: (p.dup as boolean | undefined) ?? false,
    messageId,
  };
  for (const k of EXTRA_KEYS) {
    if (Object.hasOwn(p, k)) out[k] = p[k];
  }
  return out;
}

/** encode(plainPacket(p, messageId)), in the fixed layout whenever it can hold the packet. */
export function encodePlain(p: StoredPacket, messageId: number | undefined): Buffer {
  const { brokerId, brokerCounter, topic, payload } = p;
  const hasClientId = Object.hasOwn(p, 'clientId');
  const hasNl = Object.hasOwn(p, 'nl');
  const clientId = p.clientId;
  const nl = p.nl;
  const qos = p.qos ?? 0;
  const retain = p.retain ?? false;
  const dup = (p.dup as boolean | undefined) ?? false;
  const fits =
    (p.cmd ?? 'publish') === 'publish' &&
    typeof topic === 'string' &&
    Buffer.isBuffer(payload) &&
    (qos === 0 || qos === 1 || qos === 2) &&
    typeof retain === 'boolean' &&
    typeof dup === 'boolean' &&
    (brokerId === undefined || typeof brokerId === 'string') &&
    (brokerCounter === undefined || Number.isSafeInteger(brokerCounter)) &&
    (messageId === undefined || (Number.isInteger(messageId) && messageId >= 0 && messageId <= 0xffff)) &&
    (!hasClientId || typeof clientId === 'string') &&
    (!hasNl || nl === undefined || typeof nl === 'boolean') &&
    !PLAIN_KEYS.some((k) => Object.hasOwn(p, k));
  if (!fits) return encode(plainPacket(p, messageId));
  const bl = brokerId === undefined ? 0 : Buffer.byteLength(brokerId);
  const cl = hasClientId ? Buffer.byteLength(clientId as string) : 0;
  const tl = Buffer.byteLength(topic);
  if (bl > 0xffff || tl > 0xffff || cl > 0xffff) return encode(plainPacket(p, messageId));
  const b = Buffer.allocUnsafe(PLAIN_HEADER + bl + cl + tl + payload.length);
  b[0] = PLAIN;
  b[1] = (retain ? 1 : 0) | (dup ? 2 : 0) | (messageId !== undefined ? 4 : 0) | (brokerId !== undefined ? 8 : 0) | (brokerCounter !== undefined ? 16 : 0) | (hasClientId ? 32 : 0);
  b[2] = qos | ((hasNl ? (nl === undefined ? 1 : nl ? 3 : 2) : 0) << 4);
  b.writeUInt16BE(messageId ?? 0, 3);
  b.writeDoubleBE(brokerCounter ?? 0, 5);
  b.writeUInt16BE(bl, 13);
  b.writeUInt16BE(tl, 15);
  b.writeUInt32BE(payload.length, 17);
  b.writeUInt16BE(cl, 21);
  let o = PLAIN_HEADER;
  if (bl > 0) o += b.write(brokerId!, o, 'utf8');
  if (cl > 0) o += b.write(clientId as string, o, 'utf8');
  o += b.write(topic, o, 'utf8');
  payload.copy(b, o);
  return b;
}

export function decodePlain(b: Buffer): StoredPacket {
  const flags = b[1]!;
  const bl = b.readUInt16BE(13);
  const tl = b.readUInt16BE(15);
  const pl = b.readUInt32BE(17);
  const c0 = PLAIN_HEADER + bl;
  const t0 = c0 + b.readUInt16BE(21);
  const p0 = t0 + tl;
  const out: StoredPacket = {
    cmd: 'publish',
    brokerId: flags & 8 ? b.toString('utf8', PLAIN_HEADER, c0) : undefined,
    brokerCounter: flags & 16 ? b.readDoubleBE(5) : undefined,
    topic: b.toString('utf8', t0, p0),
    // A copy, as v8's deserialize gives: the stored value may be cached.
    payload: Buffer.from(b.subarray(p0, p0 + pl)),
    qos: b[2]! & 3,
    retain: (flags & 1) !== 0,
    dup: (flags & 2) !== 0,
    messageId: flags & 4 ? b.readUInt16BE(3) : undefined,
  };
  if (flags & 32) out.clientId = b.toString('utf8', c0, t0);
  const nl = b[2]! >> 4;
  if (nl !== 0) out.nl = nl === 1 ? undefined : nl === 3;
  return out;
}

/** The messageId of a stored packet, without decoding the rest of a fixed-layout one. */
export function storedMessageId(b: Buffer): number | undefined {
  if (b[0] !== PLAIN) return decode<StoredPacket>(b).messageId;
  return b[1]! & 4 ? b.readUInt16BE(3) : undefined;
}

// A QoS 1 packet id's entry (outgoing-id:) names the queued message's key
// instead of holding a second copy of the message (persistence.ts,
// outgoingUpdate): one byte 0x02, then the key in UTF-8. Neither the fixed
// layout (0x01) nor v8 (0xFF) starts with 0x02.
const REF = 0x02;

export function encodeRef(key: string): Buffer {
  const b = Buffer.allocUnsafe(1 + Buffer.byteLength(key));
  b[0] = REF;
  b.write(key, 1, 'utf8');
  return b;
}

export const isRef = (b: Buffer): boolean => b[0] === REF;
export const refKey = (b: Buffer): string => b.toString('utf8', 1);

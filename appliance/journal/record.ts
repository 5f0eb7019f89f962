import { hash } from 'node:crypto';
import { canonicalJson, sha256Hex } from './hash.ts';
import type { JournalEvent } from './types.ts';

// Record codec and key layout. One LevelDB, utf8 keys and values, prefixes:
//   e!<seq 16 digits>          -> StoredRecord JSON (the event + requestHash + checksum)
//   k!<idempotencyKey>         -> seq (decimal)
//   i!<event id>               -> seq (decimal)
//   m!meta                     -> Meta JSON { lastSeq, hlc }
//   q!<original key>!<ms>      -> QuarantineEntry JSON (corrupt value kept for forensics)
// Zero-padded seq keeps LevelDB's byte order equal to seq order, so read(after)
// is one range scan.

export const SEQ_DIGITS = 16;
export const EVENT_PREFIX = 'e!';
export const EVENT_END = 'e"'; // '"' is the byte after '!': the end of the e! range
export const KEY_PREFIX = 'k!';
export const ID_PREFIX = 'i!';
export const META_KEY = 'm!meta';
export const QUARANTINE_PREFIX = 'q!';
export const QUARANTINE_END = 'q"';

export const RECORD_VERSION = 1;

export function eventKey(seq: number): string {
  return EVENT_PREFIX + String(seq).padStart(SEQ_DIGITS, '0');
}

export function seqFromEventKey(key: string): number | null {
  const digits = key.slice(EVENT_PREFIX.length);
  if (!key.startsWith(EVENT_PREFIX) || !/^\d{16}$/.test(digits)) return null;
  return Number(digits);
}

export const idempotencyIndexKey = (key: string): string => KEY_PREFIX + key;
export const idIndexKey = (id: string): string => ID_PREFIX + id;

export function quarantineKey(originalKey: string, at: number): string {
  return `${QUARANTINE_PREFIX}${originalKey}!${String(at).padStart(15, '0')}`;
}

/** What is stored under e!<seq>. */
export interface StoredRecord {
  v: number;
  event: JournalEvent;
  requestHash: string;
  /** sha256 of canonicalJson({ v, event, requestHash }). */
  checksum: string;
}

export interface Meta {
  lastSeq: number;
  hlc: string;
}

export interface QuarantineEntry {
  key: string;
  seq: number | null;
  reason: string;
  /** The value as found (may be unparsable text). */
  raw: string;
  quarantinedAt: string;
}

function checksumOf(v: number, event: JournalEvent, requestHash: string): string {
  return sha256Hex({ v, event, requestHash });
}

// encodeRecord writes `{"checksum":"<64 hex>",` followed by the rest of the
// canonical text it hashed (with its `{`). Hashing the stored bytes after that
// head checks a record without re-canonicalising its event, which was a third
// of the box's CPU while draining a backlog to HQ. A match means these are the
// very bytes the writer hashed; anything else (another layout) is checked the
// long way, against the canonical form.
const CHECKSUM_HEAD = '{"checksum":"';
const CHECKSUM_END = CHECKSUM_HEAD.length + 64;

function checksumOfStoredText(raw: string): string | undefined {
  if (!raw.startsWith(CHECKSUM_HEAD) || raw.charCodeAt(CHECKSUM_END) !== 0x22 || raw.charCodeAt(CHECKSUM_END + 1) !== 0x2c) return undefined;
  return hash('sha256', `{${raw.slice(CHECKSUM_END + 2)}`);
}

/**
 * Encodes an event for storage. The event is canonicalised once and the record
 * text assembled around it (keys already in canonical order), because this runs
 * for every append. Returns the stored text and the event exactly as stored.
 */
export function encodeRecord(event: JournalEvent, requestHash: string): { value: string; stored: JournalEvent } {
  const eventText = canonicalJson(event);
  const tail = `"requestHash":${JSON.stringify(requestHash)},"v":${RECORD_VERSION}}`;
  // Same bytes as canonicalJson({ v, event, requestHash }), which decode re-derives.
  const checksum = hash('sha256', `{"event":${eventText},${tail}`);
  return {
    value: `{"checksum":"${checksum}","event":${eventText},${tail}`,
    stored: JSON.parse(eventText) as JournalEvent,
  };
}

/**
 * The event's JSON text inside a stored record, taken without parsing it, for
 * the sync lane, which only forwards it to HQ: parsing 12,000 records a second
 * into objects and serialising them again was most of core's allocation while
 * a backlog drained, and its GC pauses were the sale latency's p99 (issue 14).
 *
 * Only for a record exactly as encodeRecord wrote it: its stored bytes hash to
 * its checksum, so the event text is the canonical one the writer checked. Its
 * keys are sorted, so the last `"seq":` is the event's own (after `payload`,
 * only `storeId` and `type` follow, both strings, in which an unescaped quote
 * cannot occur). undefined for anything else, which the caller decodes the
 * long way (decodeRecord), which says what is wrong.
 */
export function storedEventText(raw: string, expectedSeq: number): string | undefined {
  const checksum = checksumOfStoredText(raw);
  if (checksum === undefined || raw.slice(CHECKSUM_HEAD.length, CHECKSUM_END) !== checksum) return undefined;
  const start = CHECKSUM_END + 2 + EVENT_KEY.length;
  if (!raw.startsWith(EVENT_KEY, CHECKSUM_END + 2)) return undefined;
  const end = raw.lastIndexOf(REQUEST_HASH_KEY);
  if (end < start || !STORED_TAIL.test(raw.slice(end))) return undefined;
  const text = raw.slice(start, end);
  const at = text.lastIndexOf(SEQ_KEY);
  if (at < 0) return undefined;
  const m = SEQ_VALUE.exec(text.slice(at + SEQ_KEY.length, at + SEQ_KEY.length + 18));
  return m && Number(m[1]) === expectedSeq ? text : undefined;
}

const EVENT_KEY = '"event":';
const REQUEST_HASH_KEY = ',"requestHash":';
const STORED_TAIL = new RegExp(`^,"requestHash":"(?:[^"\\\\]|\\\\.)*","v":${RECORD_VERSION}}$`);
const SEQ_KEY = '"seq":';
const SEQ_VALUE = /^([1-9][0-9]{0,15})[,}]/;

export type DecodeResult = { ok: true; record: StoredRecord } | { ok: false; reason: string };

/**
 * Parses and checks one stored record. `expectedSeq` is the seq from its key: a
 * record whose body claims another seq was written somewhere it does not belong.
 */
export function decodeRecord(raw: string, expectedSeq: number | null): DecodeResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    return { ok: false, reason: `unparsable JSON: ${(err as Error).message}` };
  }
  if (typeof parsed !== 'object' || parsed === null) return { ok: false, reason: 'record is not an object' };
  const r = parsed as Partial<StoredRecord>;
  if (r.v !== RECORD_VERSION) return { ok: false, reason: `unknown record version ${String(r.v)}` };
  if (typeof r.checksum !== 'string') return { ok: false, reason: 'missing checksum' };
  if (typeof r.requestHash !== 'string') return { ok: false, reason: 'missing requestHash' };
  const shapeError = checkEventShape(r.event);
  if (shapeError) return { ok: false, reason: shapeError };
  const event = r.event as JournalEvent;
  if (checksumOfStoredText(raw) !== r.checksum) {
    let actual: string;
    try {
      actual = checksumOf(r.v, event, r.requestHash);
    } catch (err) {
      return { ok: false, reason: `cannot canonicalise: ${(err as Error).message}` };
    }
    if (actual !== r.checksum) return { ok: false, reason: 'checksum mismatch' };
  }
  if (expectedSeq !== null && event.seq !== expectedSeq) {
    return { ok: false, reason: `seq ${event.seq} stored under key for seq ${expectedSeq}` };
  }
  return { ok: true, record: r as StoredRecord };
}

function checkEventShape(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return 'missing event';
  const ev = e as Record<string, unknown>;
  for (const f of ['id', 'deviceId', 'storeId', 'hlc', 'type', 'idempotencyKey', 'recordedAt'] as const) {
    if (typeof ev[f] !== 'string') return `event.${f} is not a string`;
  }
  if (!Number.isSafeInteger(ev.seq) || (ev.seq as number) < 1) return 'event.seq is not a positive integer';
  if (!('payload' in ev)) return 'event.payload is missing';
  return undefined;
}

export function decodeMeta(raw: string): Meta | undefined {
  try {
    const m = JSON.parse(raw) as Partial<Meta>;
    if (Number.isSafeInteger(m.lastSeq) && (m.lastSeq as number) >= 0 && typeof m.hlc === 'string') {
      return { lastSeq: m.lastSeq as number, hlc: m.hlc };
    }
  } catch {
    // fall through: the caller recovers from the event tail
  }
  return undefined;
}

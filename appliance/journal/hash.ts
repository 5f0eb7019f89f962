import { createHash } from 'node:crypto';

// Canonical JSON: object keys sorted, no whitespace, JSON.stringify's rules for
// everything else. Two requests that differ only in key order hash the same, so
// a client that re-serialises its retry is still recognised as the same request.

/** Deterministic JSON text of `value`; throws on values JSON cannot represent faithfully. */
export function canonicalJson(value: unknown): string {
  return encode(value, []);
}

// `path` is a stack of keys, turned into text only for an error message: this
// runs on every append, so no per-node string building.
function encode(value: unknown, path: Array<string | number>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      // NaN/Infinity would silently become null and collide with a real null.
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: non-finite number at ${where(path)}`);
      return JSON.stringify(value);
    case 'bigint':
    case 'function':
    case 'symbol':
    case 'undefined':
      throw new TypeError(`canonicalJson: ${typeof value} is not JSON at ${where(path)}`);
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      path.push(i);
      out += (i === 0 ? '' : ',') + encode(value[i], path);
      path.pop();
    }
    return `${out}]`;
  }
  const obj = value as Record<string, unknown> & { toJSON?: () => unknown };
  if (typeof obj.toJSON === 'function') return encode(obj.toJSON(), path);
  let out = '{';
  let first = true;
  for (const key of Object.keys(obj).sort()) {
    const v = obj[key];
    // Same as JSON.stringify: an undefined property is absent, not an error.
    if (v === undefined) continue;
    path.push(key);
    out += `${first ? '' : ','}${JSON.stringify(key)}:${encode(v, path)}`;
    path.pop();
    first = false;
  }
  return `${out}}`;
}

function where(path: Array<string | number>): string {
  return '$' + path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('');
}

/** sha256 (hex) of the canonical JSON of `value`. */
export function sha256Hex(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

/**
 * The `requestHash` for AppendRequest: hash of the client's request body, so a
 * retry under the same Idempotency-Key with a different body is detectable.
 * Pass the parsed body (plus anything else that defines "the same request").
 */
export function requestHash(body: unknown): string {
  return sha256Hex(body);
}

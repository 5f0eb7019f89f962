import { requestHash } from '../../appliance/journal/hash.ts';
import type { AppendRequest } from '../../appliance/journal/types.ts';

/** The request for a key is a pure function of the key, so a retry is byte-identical. */
export function crashRequest(key: string): AppendRequest {
  const payload = { lines: [{ sku: '4006381333931', qty: 1 }], tenders: [{ type: 'cash', amount: 250 }], key };
  return { type: 'sale', payload, idempotencyKey: key, requestHash: requestHash(payload) };
}

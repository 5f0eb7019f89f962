import type { ErrorObject, ValidateFunction } from 'ajv';
import { HealthDocument } from '../../contract/health.ts';
import { compileSchema } from '../../lib/validate.ts';
import { POS_EVENT_PAYLOADS } from '../../contract/pos.ts';
import { CatalogResyncRequest, EventBatch, FleetStatus, LossReport } from '../../contract/sync.ts';

// Every message from a box is validated against the contract before HQ
// touches the database. A bad batch is answered with a `rejected` ack and a
// reason, never a crash: envelope schema, device/store consistency with the
// topic and batch, seq order (contiguous on the backlog lane), and the
// payload schema of every known POS event type.

const batchSchema = compileSchema(EventBatch);
const payloadSchemas = new Map<string, ValidateFunction>(Object.entries(POS_EVENT_PAYLOADS).map(([type, schema]) => [type, compileSchema(schema)]));
export const validateResync = compileSchema(CatalogResyncRequest);
export const validateFleetStatus = compileSchema(FleetStatus);
export const validateLoss = compileSchema(LossReport);
export const validateHealth = compileSchema(HealthDocument);

// The reason goes back to the box in its rejected ack: JSON Pointer paths, as HQ always sent them.
function describe(errors: ErrorObject[] | null | undefined, prefix = ''): string {
  const e = errors?.[0];
  if (!e) return 'invalid';
  const path = `${prefix}${e.instancePath}` || '/';
  const extra = e.keyword === 'additionalProperties' ? ` (${String(e.params.additionalProperty)})` : '';
  return `${path} ${e.message ?? e.keyword}${extra}`;
}

export type BatchCheck = { ok: true; batch: EventBatch } | { ok: false; reason: string; batchId?: string };

/** Parses and validates one message from `tillbox/v1/{topicDeviceId}/events`. */
export function checkBatch(topicDeviceId: string, payload: Buffer | string): BatchCheck {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch {
    return { ok: false, reason: 'payload is not JSON' };
  }
  const batchId = typeof (raw as { batchId?: unknown })?.batchId === 'string' ? ((raw as { batchId: string }).batchId.slice(0, 64) as string) : undefined;
  const fail = (reason: string): BatchCheck => (batchId === undefined ? { ok: false, reason } : { ok: false, reason, batchId });
  if (!batchSchema(raw)) return fail(`schema: ${describe(batchSchema.errors)}`);
  const batch = raw;
  if (batch.deviceId !== topicDeviceId) return fail(`batch deviceId ${batch.deviceId} does not match the topic's ${topicDeviceId}`);
  let prev = 0;
  for (const [i, e] of batch.events.entries()) {
    if (e.deviceId !== batch.deviceId) return fail(`events/${i} deviceId ${e.deviceId} is not the batch's`);
    if (e.storeId !== batch.storeId) return fail(`events/${i} storeId ${e.storeId} is not the batch's`);
    if (e.seq <= prev) return fail(`events/${i} seq ${e.seq} is not ascending`);
    if (batch.lane === 'backlog' && prev !== 0 && e.seq !== prev + 1) return fail(`events/${i} seq ${e.seq}: a backlog batch must be contiguous`);
    prev = e.seq;
    const check = payloadSchemas.get(e.type);
    if (check && !check(e.payload)) return fail(`events/${i} (seq ${e.seq}) ${e.type} payload: ${describe(check.errors, '/payload')}`);
  }
  return { ok: true, batch };
}

export function parseJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
}

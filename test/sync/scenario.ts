import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJournal, startBox, type BoxProcess } from '../../harness/box.ts';
import { createDemoCatalog } from '../../appliance/pos/demo-catalog.ts';
import { startCloud, type Cloud, type CloudOptions } from './cloud.ts';
import { checkHistory, describeHistory, type HistoryReport } from '../../harness/history.ts';
import { drainWithLiveness } from './liveness.ts';
import { boxStock, syncStatus } from './trading.ts';

// Shared steps of the end-to-end sync scenarios: a real box process pointed
// at the cloud through the partition proxy, the drain with a liveness bound,
// and the verdicts (history checker, inventory equality).

/** Env that makes a test box reconnect and resend quickly (timeouts, not assertions). */
export function boxEnv(cloud: Cloud, extra: Record<string, string> = {}): Record<string, string> {
  return {
    TILLBOX_CLOUD_URL: cloud.boxUrl,
    TILLBOX_CLOUD_BACKOFF_BASE_MS: '50',
    TILLBOX_CLOUD_BACKOFF_MAX_MS: '1000',
    TILLBOX_CLOUD_ACK_TIMEOUT_MS: '5000',
    TILLBOX_CLOUD_KEEPALIVE_SEC: '5',
    TILLBOX_CLOUD_CONNECT_TIMEOUT_MS: '2000',
    ...extra,
  };
}

export async function startBoxOn(cloud: Cloud, stateDir?: string, extra: Record<string, string> = {}): Promise<BoxProcess> {
  return startBox(stateDir, boxEnv(cloud, extra));
}

export function deviceIdOf(box: BoxProcess): string {
  return readFileSync(join(box.stateDir, 'device-id'), 'utf8').trim();
}

export async function drain(box: BoxProcess, cloud: Cloud, deviceId: string): Promise<void> {
  await drainWithLiveness(() => syncStatus(box.port), {
    stallMs: 30_000,
    also: async () => (await cloud.hq.watermark(deviceId)) >= (await syncStatus(box.port)).lastSeq,
  });
}

export async function history(box: BoxProcess, cloud: Cloud, deviceId: string): Promise<HistoryReport> {
  const journal = await readJournal(box.port);
  const hq = await cloud.hq.events(deviceId);
  return checkHistory(
    journal.map((e) => ({ id: e.id, seq: e.seq, deviceId })),
    hq,
  );
}

/** Box stock minus the catalog's initial stock = the deltas HQ must hold, per tracked sku. */
export async function inventoryDiff(boxes: BoxProcess[], cloud: Cloud, storeId = 'demo-store'): Promise<string[]> {
  const initial = new Map(
    createDemoCatalog()
      .items()
      .filter((i) => i.trackStock)
      .map((i) => [i.sku, i.stock ?? 0]),
  );
  const boxDelta = new Map<string, number>();
  for (const box of boxes) for (const [sku, stock] of await boxStock(box.port)) boxDelta.set(sku, (boxDelta.get(sku) ?? 0) + stock - (initial.get(sku) ?? 0));
  const hq = await cloud.hq.inventory(storeId);
  const diffs: string[] = [];
  for (const [sku, d] of boxDelta) if ((hq.get(sku) ?? 0) !== d) diffs.push(`${sku}: box ${d}, hq ${hq.get(sku) ?? 0}`);
  return diffs;
}

export { describeHistory, startCloud, type CloudOptions };

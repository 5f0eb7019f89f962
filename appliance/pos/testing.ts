import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LevelJournal } from '../journal/level-journal.ts';
import { silentLogger } from '../log.ts';
import { createDemoCatalog, DEMO_STORE_ID } from './demo-catalog.ts';
import { PosService } from './pos-service.ts';
import type { WeightSource } from './scale-readings.ts';

// Test support: a PosService on a real LevelJournal in a temp directory.
// Not imported by production code.

export interface PosHarness {
  dir: string;
  journal: LevelJournal;
  pos: PosService;
  /** Stops the service and the journal and opens both again on the same directory. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startPos(options: { dir?: string; weights?: WeightSource; recentSales?: number } = {}): Promise<PosHarness> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'tillbox-pos-'));
  const open = async () => {
    const journal = new LevelJournal({ dir, deviceId: 'box-1', storeId: DEMO_STORE_ID, log: silentLogger() });
    await journal.start();
    const pos = new PosService({
      journal,
      catalog: createDemoCatalog(),
      log: silentLogger(),
      storeId: DEMO_STORE_ID,
      currency: 'EUR',
      ...(options.weights ? { weights: options.weights } : {}),
      ...(options.recentSales === undefined ? {} : { recentSales: options.recentSales }),
    });
    await pos.start();
    return { journal, pos };
  };
  const h = { dir, ...(await open()) } as PosHarness;
  h.restart = async () => {
    await h.pos.stop();
    await h.journal.stop();
    Object.assign(h, await open());
  };
  h.close = async () => {
    await h.pos.stop();
    await h.journal.stop();
    if (!options.dir) rmSync(dir, { recursive: true, force: true });
  };
  return h;
}

export const cash = (amount: number) => ({ type: 'cash' as const, amount });
export const card = (amount: number, approvalRef = 'APR-1') => ({ type: 'card' as const, amount, approvalRef });

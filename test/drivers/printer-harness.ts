// Scenario harness: a real simulator on a loopback port, the real driver over
// a real TcpTransport, and a queue on a temp dir (zwave-js integrationTest idea).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PrintResult, PrinterStatus } from '../../contract/devices/printer.ts';
import { MODELS } from '../../drivers/printer/models.ts';
import { EscPosPrinter } from '../../drivers/printer/printer.ts';
import { PrintQueue } from '../../drivers/printer/queue.ts';
import { sampleSale } from '../../drivers/printer/testing.ts';
import type { ReceiptSale } from '../../drivers/printer/receipt.ts';
import { SimPrinter, type SimReceipt } from '../../drivers/sim/printer.ts';
import { TcpTransport } from '../../drivers/transports/tcp.ts';

export interface Rig {
  sim: SimPrinter;
  dir: string;
  sales: Map<string, ReceiptSale>;
  open(): { printer: EscPosPrinter; queue: PrintQueue; results: PrintResult[]; statuses: PrinterStatus[] };
  close(): Promise<void>;
}

export async function rig(): Promise<Rig> {
  const sim = await new SimPrinter({ columns: 42 }).start();
  const dir = await mkdtemp(join(tmpdir(), 'tillbox-printq-'));
  const sales = new Map<string, ReceiptSale>();
  const opened: { printer: EscPosPrinter; queue: PrintQueue }[] = [];
  return {
    sim,
    dir,
    sales,
    open() {
      const transport = new TcpTransport({ host: '127.0.0.1', port: sim.port, connectTimeoutMs: 2000 });
      // Short poll and backoff keep the scenarios quick; nothing asserts on time.
      const printer = new EscPosPrinter({ transport, model: MODELS['epson-tm-t88'], statusPollMs: 50, reconnect: { minMs: 20, maxMs: 100 } });
      const queue = new PrintQueue({
        dir,
        printer,
        resolveSale: async (id) => sales.get(id),
        receipt: { store: { name: 'Test Shop' } },
        retry: { minMs: 20, maxMs: 100 },
      });
      const results: PrintResult[] = [];
      const statuses: PrinterStatus[] = [];
      queue.on('result', (r) => results.push(r));
      printer.on('status', (s) => statuses.push(s));
      opened.push({ printer, queue });
      return { printer, queue, results, statuses };
    },
    async close() {
      for (const o of opened) {
        await o.queue.stop();
        await o.printer.stop();
      }
      await sim.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function sale(r: Rig, id: string): ReceiptSale {
  const s = sampleSale(id);
  r.sales.set(id, s);
  return s;
}

/** Resolves when `pred` holds, checked on every emitted event of `on` (no sleeps, no time thresholds). */
export function until(pred: () => boolean, subscribe: (check: () => void) => () => void): Promise<void> {
  if (pred()) return Promise.resolve();
  return new Promise((resolve) => {
    const off = subscribe(() => {
      if (pred()) {
        off();
        resolve();
      }
    });
  });
}

export function nextResult(q: PrintQueue): Promise<PrintResult> {
  return new Promise((resolve) => q.once('result', resolve));
}

export function receiptsFor(sim: SimPrinter, saleId: string): SimReceipt[] {
  return sim.receipts.filter((r) => r.elements.some((e) => (e.kind === 'qr' && e.data === saleId) || (e.kind === 'text' && e.text.includes(saleId))));
}

/** Polls `pred` (for state no event announces); the test timeout bounds it, no threshold is asserted. */
export async function eventually(pred: () => boolean): Promise<void> {
  while (!pred()) await new Promise((r) => setTimeout(r, 10));
}

/** Runs `fn` once, the moment print data (not a status query) reaches the simulator. */
export function onJobBytes(sim: SimPrinter, fn: () => void): void {
  const onData = () => {
    if (sim.queuedBytes === 0) return; // real-time status queries are never queued
    sim.off('data', onData);
    fn();
  };
  sim.on('data', onData);
}

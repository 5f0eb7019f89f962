import { percentile } from './stats.ts';
import { postSale } from '../harness/box.ts';
import { startCore, startDevicesProcess, startFlowsProcess, until, SALE } from '../harness/flows.ts';
import { SimPrinter } from '../drivers/sim/printer.ts';
import { rssMB } from './proc.ts';

// The flows process through real processes: a demo core in a child, then
// `tillbox flows` in a child (the store flows with the demo overlay, which
// routes BREAD-WG, a deli item, to the demo printer `printer-1`). A sale goes in over HTTP and
// comes out as a complete kitchen ticket on the ESC/POS simulator over TCP:
// journal commit → pos/sale on the broker → tillbox in → routing function →
// tillbox print → cmd/print → the devices process (`tillbox devices`: print
// queue, kitchen-ticket renderer, ESC/POS driver) → TCP 9100 → simulator cut.
// Sales are sequential, so the figures are latency, not throughput.

export interface FlowsBench {
  /** Spawn of `tillbox flows` (core already up) to its ready line. */
  readyMs: number;
  /** Resident memory of the flows process after the sales. */
  rssMB: number;
  saleToTicketP50Ms: number;
  saleToTicketP99Ms: number;
}

const hasOrder = (text: string, seq: number) => new RegExp(`#${seq}(?!\\d)`).test(text);

export async function benchFlows(opts: { sales?: number } = {}): Promise<FlowsBench> {
  const sales = opts.sales ?? 200;
  const core = await startCore();
  const printer = await new SimPrinter({ port: 0 }).start();
  const devices = await startDevicesProcess(core, { 'printer-1': printer.port });
  let flows: Awaited<ReturnType<typeof startFlowsProcess>> | undefined;
  try {
    flows = await startFlowsProcess(core);
    // Warm-up: the first sale also proves the chain is connected end to end.
    const ticketFor = (seq: number) => until(() => printer.completeReceipts().find((r) => hasOrder(printer.renderText(r), seq)), `ticket #${seq}`, 30_000);
    const warm = await postSale(core.httpPort, `bench-flows-warm-${Date.now()}`, SALE([{ sku: 'BREAD-WG', qty: 1 }]));
    await ticketFor(warm.json<{ seq: number }>().seq);

    const latencies: number[] = [];
    for (let i = 0; i < sales; i++) {
      const t0 = performance.now();
      const seen = new Promise<void>((resolve) => {
        const onReceipt = () => {
          const r = printer.completeReceipts().at(-1);
          if (r && seq > 0 && hasOrder(printer.renderText(r), seq)) {
            printer.off('receipt', onReceipt);
            resolve();
          }
        };
        let seq = -1;
        printer.on('receipt', onReceipt);
        void postSale(core.httpPort, `bench-flows-${process.pid}-${i}`, SALE([{ sku: 'BREAD-WG', qty: 1 }])).then((r) => {
          seq = r.json<{ seq: number }>().seq;
          onReceipt();
        });
      });
      await seen;
      latencies.push(performance.now() - t0);
    }
    const round = (n: number) => Math.round(n * 10) / 10;
    return {
      readyMs: flows.readyMs,
      rssMB: Math.round(rssMB(flows.child.pid!)),
      saleToTicketP50Ms: round(percentile(latencies, 50)),
      saleToTicketP99Ms: round(percentile(latencies, 99)),
    };
  } finally {
    await flows?.stop();
    await devices.stop();
    await printer.stop();
    await core.stop();
  }
}

if (import.meta.main) console.log(JSON.stringify({ flows: await benchFlows() }, null, 2));

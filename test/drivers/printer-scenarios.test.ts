import { afterEach, describe, expect, it, vi } from 'vitest';
import { FileJobStore } from '../../drivers/printer/queue.ts';
import { eventually, nextResult, onJobBytes, receiptsFor, rig, sale, until, type Rig } from './printer-harness.ts';

const ID1 = '0190f5a2-0000-7000-8000-000000000001';
const ID2 = '0190f5a2-0000-7000-8000-000000000002';

let r: Rig;
afterEach(async () => {
  await r?.close();
});

describe('printer scenarios over real TCP against the simulator', () => {
  it('prints a sale receipt end to end; the simulator reads back the sale id and totals', async () => {
    r = await rig();
    sale(r, ID1);
    const { printer, queue } = r.open();
    printer.start();
    await queue.start();
    const done = nextResult(queue);
    const accepted = await queue.enqueue({ saleId: ID1 }, { key: 'corr-1' });
    expect(accepted).toMatchObject({ position: 0, duplicate: false });
    expect(await queue.enqueue({ saleId: ID1 }, { key: 'corr-1' })).toMatchObject({ jobId: accepted.jobId, duplicate: true });
    const result = await done;
    expect(result).toMatchObject({ jobId: accepted.jobId, saleId: ID1, status: 'printed', attempts: 1, possibleDuplicate: false, confirmedBy: 'process-id' });
    const printed = receiptsFor(r.sim, ID1);
    expect(printed).toHaveLength(1);
    expect(printed[0]!.complete).toBe(true);
    expect(r.sim.renderText(printed[0]!)).toMatch(/TOTAL\s+€9\.31/);
  });

  it('a job reaches the printer after one fsync\'d write (its enqueue); its "printing" mark is crash-safe, "sent" is fsync\'d after the bytes, "printed" before the result is reported', async () => {
    r = await rig();
    sale(r, ID1);
    const writes: string[] = [];
    const put = FileJobStore.prototype.put;
    const spy = vi.spyOn(FileJobStore.prototype, 'put').mockImplementation(async function (this: FileJobStore, job, durability) {
      const mark = `${job.state}${job.sent ? '+sent' : ''}:${durability}`;
      await put.call(this, job, durability);
      writes.push(mark);
    });
    try {
      const { printer, queue } = r.open();
      printer.start();
      await queue.start();
      await printer.waitReady();
      let beforeFirstByte: string[] | undefined;
      onJobBytes(r.sim, () => (beforeFirstByte = [...writes]));
      const done = nextResult(queue).then((res) => ({ res, writes: [...writes] }));
      await queue.enqueue({ saleId: ID1 });
      const { res, writes: atResult } = await done;
      expect(res).toMatchObject({ status: 'printed', attempts: 1 });
      expect(beforeFirstByte).toEqual(['queued:durable', 'printing:crash-safe']);
      expect(atResult).toEqual(['queued:durable', 'printing:crash-safe', 'printing+sent:durable', 'printed+sent:durable']);
    } finally {
      spy.mockRestore();
    }
  });

  it('paper out: the job waits, the status says rec-empty; after the refill it prints exactly once', async () => {
    r = await rig();
    sale(r, ID1);
    r.sim.setPaper('out');
    const { printer, queue, statuses } = r.open();
    printer.start();
    await queue.start();
    await queue.enqueue({ saleId: ID1 });
    await until(
      () => statuses.some((s) => s.conditions.includes('rec-empty') && !s.ready),
      (c) => (printer.on('status', c), () => printer.off('status', c)),
    );
    expect(queue.pending()).toHaveLength(1);
    expect(r.sim.receipts).toHaveLength(0);
    const done = nextResult(queue);
    r.sim.setPaper('ok');
    expect(await done).toMatchObject({ status: 'printed', attempts: 1, possibleDuplicate: false });
    expect(receiptsFor(r.sim, ID1).filter((x) => x.complete)).toHaveLength(1);
    expect(r.sim.receipts).toHaveLength(1);
  });

  it('paper runs out mid-job: the printer holds the data, the job completes after the refill, once', async () => {
    r = await rig();
    sale(r, ID1);
    const { printer, queue } = r.open();
    printer.start();
    await queue.start();
    await printer.waitReady();
    // The moment job bytes arrive, the roll ends.
    onJobBytes(r.sim, () => r.sim.setPaper('out'));
    const done = nextResult(queue);
    await queue.enqueue({ saleId: ID1 });
    await until(
      () => r.sim.queuedBytes > 0 && printer.status?.paper === 'empty',
      (c) => (printer.on('status', c), () => printer.off('status', c)),
    );
    r.sim.setPaper('ok');
    expect(await done).toMatchObject({ status: 'printed', attempts: 1 });
    expect(receiptsFor(r.sim, ID1).filter((x) => x.complete)).toHaveLength(1);
  });

  it('unplug mid-print: the connection is cut mid-job; the job is retried on reconnect, one whole receipt, no crash', async () => {
    r = await rig();
    sale(r, ID1);
    const { printer, queue } = r.open();
    printer.start();
    await queue.start();
    await printer.waitReady();
    r.sim.dropAfter(300); // the receipt is ~1.5 KB
    const attempts: (string | undefined)[] = [];
    queue.on('attempt', (a) => attempts.push(a.error));
    const done = nextResult(queue);
    await queue.enqueue({ saleId: ID1 });
    const result = await done;
    expect(result).toMatchObject({ status: 'printed', attempts: 2 });
    expect(attempts.some((e) => e !== undefined)).toBe(true);
    const mine = receiptsFor(r.sim, ID1);
    expect(mine.filter((x) => x.complete)).toHaveLength(1);
    // What reached the paper before the cut is a torn fragment, never a second whole receipt.
    expect(r.sim.receipts.filter((x) => x.complete)).toHaveLength(1);
    expect(r.sim.stats.clears).toBeGreaterThanOrEqual(1);
  });

  it('devices process restart with a queued job: a new queue on the same dir prints it once', async () => {
    r = await rig();
    sale(r, ID1);
    r.sim.setPaper('out');
    const a = r.open();
    a.printer.start();
    await a.queue.start();
    await a.queue.enqueue({ saleId: ID1 });
    await a.printer.waitConnected();
    await a.queue.stop();
    await a.printer.stop();
    const b = r.open();
    b.printer.start();
    await b.queue.start();
    expect(b.queue.pending()).toHaveLength(1);
    const done = nextResult(b.queue);
    r.sim.setPaper('ok');
    expect(await done).toMatchObject({ saleId: ID1, status: 'printed', attempts: 1 });
    expect(receiptsFor(r.sim, ID1)).toHaveLength(1);
  });

  it('restart while the job sits in the printer buffer (sent, paper out): the new process clears it first, prints once', async () => {
    r = await rig();
    sale(r, ID1);
    const a = r.open();
    a.printer.start();
    await a.queue.start();
    await a.printer.waitReady();
    onJobBytes(r.sim, () => r.sim.setPaper('out'));
    await a.queue.enqueue({ saleId: ID1 });
    await eventually(() => a.queue.pending()[0]?.sent === true && r.sim.queuedBytes > 0);
    await a.queue.stop();
    await a.printer.stop();
    const b = r.open();
    b.printer.start();
    await b.queue.start();
    await eventually(() => r.sim.stats.clears > 0);
    const done = nextResult(b.queue);
    r.sim.setPaper('ok');
    const result = await done;
    expect(result).toMatchObject({ status: 'printed', attempts: 2, possibleDuplicate: true });
    expect(receiptsFor(r.sim, ID1).filter((x) => x.complete)).toHaveLength(1);
    expect(r.sim.receipts.filter((x) => x.complete)).toHaveLength(1);
  });

  it('drawer opened while printing: real-time kick mid-job, status reports it, the job prints once', async () => {
    r = await rig();
    sale(r, ID1);
    sale(r, ID2);
    const { printer, queue, statuses } = r.open();
    printer.start();
    await queue.start();
    await printer.waitReady();
    onJobBytes(r.sim, () => void printer.kickDrawer({ pin: 2 }));
    const results: string[] = [];
    queue.on('result', (x) => results.push(x.saleId!));
    await queue.enqueue({ saleId: ID1 });
    await queue.enqueue({ saleId: ID2 });
    await until(
      () => results.length === 2,
      (c) => (queue.on('result', c), () => queue.off('result', c)),
    );
    expect(results).toEqual([ID1, ID2]);
    expect(r.sim.state.drawerOpen).toBe(true);
    await until(
      () => statuses.some((s) => s.drawer === 'open'),
      (c) => (printer.on('status', c), () => printer.off('status', c)),
    );
    r.sim.setDrawer(false);
    await until(
      () => printer.status?.drawer === 'closed',
      (c) => (printer.on('status', c), () => printer.off('status', c)),
    );
    expect(receiptsFor(r.sim, ID1)).toHaveLength(1);
    expect(receiptsFor(r.sim, ID2)).toHaveLength(1);
  });

  it('a sale that does not exist fails the job permanently and the queue moves on', async () => {
    r = await rig();
    sale(r, ID2);
    const { printer, queue } = r.open();
    printer.start();
    await queue.start();
    const results: { status: string; code?: string }[] = [];
    queue.on('result', (x) => results.push({ status: x.status, code: x.error?.code }));
    await queue.enqueue({ saleId: ID1 });
    await queue.enqueue({ saleId: ID2 });
    await until(
      () => results.length === 2,
      (c) => (queue.on('result', c), () => queue.off('result', c)),
    );
    expect(results).toEqual([
      { status: 'failed', code: 'TB_NOT_FOUND' },
      { status: 'printed', code: undefined },
    ]);
  });

  it('printer powered off: offline state, job waits; powered on: reconnects and prints once', async () => {
    r = await rig();
    sale(r, ID1);
    const { printer, queue } = r.open();
    const states: string[] = [];
    printer.on('state', (s) => states.push(s.state));
    printer.start();
    await queue.start();
    await printer.waitReady();
    r.sim.setPower(false);
    await until(
      () => printer.state === 'off-offline',
      (c) => (printer.on('state', c), () => printer.off('state', c)),
    );
    await queue.enqueue({ saleId: ID1 });
    const done = nextResult(queue);
    r.sim.setPower(true);
    expect(await done).toMatchObject({ status: 'printed', attempts: 1 });
    expect(states).toContain('off-offline');
    expect(receiptsFor(r.sim, ID1)).toHaveLength(1);
  });
});

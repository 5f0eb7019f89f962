import { spawn } from 'node:child_process';
import { cpSync, existsSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, nextResult, onJobBytes, receiptsFor, rig, sale, type Rig } from './printer-harness.ts';

// The devices process SIGKILLed at each write of a job's life (issue 14 made
// every write but the enqueue and the final state un-fsync'd: a kill -9 must
// not notice). A child runs the queue and kills itself just before or after
// the job-file write of one step; a new queue on the same directory (the
// restarted process) then finishes the job.

const ID = '0190f5a2-0000-7000-8000-0000000000a1';
const CHILD = resolve(import.meta.dirname, 'print-queue-kill9-child.ts');

let r: Rig;
afterEach(async () => {
  await r?.close();
});

async function killAt(step: string, opts: { paperOutOnBytes?: boolean; power?: boolean } = {}): Promise<{ enqueued: boolean }> {
  sale(r, ID);
  const child = spawn(process.execPath, [CHILD, r.dir, String(r.sim.port), ID, step, ...(opts.power ? ['power'] : [])], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d;
    // Connected and ready: what reaches the printer from now on is the job.
    if (!String(d).includes('ready')) return;
    if (opts.paperOutOnBytes) onJobBytes(r.sim, () => r.sim.setPaper('out'));
    child.stdin.write('go\n');
  });
  child.stderr.on('data', (d: Buffer) => (out += d));
  const signal = await new Promise<NodeJS.Signals | null>((ok) => child.once('exit', (_c, s) => ok(s)));
  expect(signal, out).toBe('SIGKILL');
  return { enqueued: out.includes('enqueued') };
}

/**
 * A power cut at `step`: the process dies there and every job-file write not
 * fsync'd is lost (the worst case; the kernel may have written some back).
 */
async function powerCutAt(step: string, opts: { paperOutOnBytes?: boolean } = {}): Promise<void> {
  await killAt(step, { ...opts, power: true });
  rmSync(r.dir, { recursive: true, force: true });
  if (existsSync(`${r.dir}.durable`)) cpSync(`${r.dir}.durable`, r.dir, { recursive: true });
  rmSync(`${r.dir}.durable`, { recursive: true, force: true });
}

/** The restarted process: a new queue on the same directory. */
async function restart() {
  const b = r.open();
  b.printer.start();
  await b.queue.start();
  return b;
}

const complete = () => receiptsFor(r.sim, ID).filter((x) => x.complete);

describe('print queue: kill -9 of the devices process at every step of a job', () => {
  it('killed before the enqueue reached the disk: nothing was acknowledged and nothing prints', async () => {
    r = await rig();
    expect(await killAt('queued:before')).toEqual({ enqueued: false });
    const b = await restart();
    expect(b.queue.jobs()).toHaveLength(0);
    expect(complete()).toHaveLength(0);
  });

  it('killed right after the enqueue was written: the restarted queue prints the job once', async () => {
    r = await rig();
    await killAt('queued:after');
    const b = await restart();
    expect(b.queue.pending()).toHaveLength(1);
    expect(await nextResult(b.queue)).toMatchObject({ saleId: ID, status: 'printed', possibleDuplicate: false });
    expect(complete()).toHaveLength(1);
  });

  it('killed after the attempt was marked, before any byte went out: printed once, not flagged', async () => {
    r = await rig();
    await killAt('printing:after');
    const b = await restart();
    expect(b.queue.pending()[0]).toMatchObject({ state: 'printing', attempts: 1, sent: false });
    expect(await nextResult(b.queue)).toMatchObject({ status: 'printed', attempts: 2, possibleDuplicate: false });
    expect(complete()).toHaveLength(1);
  });

  it('killed with the job sent and held in the printer (paper out): the restart clears it and prints once, flagged', async () => {
    r = await rig();
    await killAt('sent:after', { paperOutOnBytes: true });
    const b = await restart();
    expect(b.queue.pending()[0]).toMatchObject({ state: 'printing', sent: true });
    await eventually(() => r.sim.stats.clears > 0);
    const done = nextResult(b.queue);
    r.sim.setPaper('ok');
    expect(await done).toMatchObject({ status: 'printed', attempts: 2, possibleDuplicate: true });
    expect(complete()).toHaveLength(1);
  });

  it('killed after the printer confirmed but before "printed" reached the disk: printed again and flagged possibleDuplicate', async () => {
    r = await rig();
    await killAt('printed:before');
    const b = await restart();
    expect(await nextResult(b.queue)).toMatchObject({ status: 'printed', attempts: 2, possibleDuplicate: true });
    // The documented residual window (drivers/printer/queue.ts): never silent, never lost.
    expect(complete()).toHaveLength(2);
  });

  it('killed after "printed" reached the disk: the restarted queue has nothing to print', async () => {
    r = await rig();
    await killAt('printed:after');
    const b = await restart();
    expect(b.queue.pending()).toHaveLength(0);
    expect(b.queue.jobs()[0]).toMatchObject({ state: 'printed', attempts: 1 });
    expect(complete()).toHaveLength(1);
  });
});

describe("print queue: a power cut that loses every write not fsync'd", () => {
  it('cut after the printer confirmed, before "printed" reached the disk: printed again and flagged possibleDuplicate', async () => {
    r = await rig();
    await powerCutAt('printed:before');
    const b = await restart();
    expect(b.queue.pending()[0]).toMatchObject({ sent: true });
    expect(await nextResult(b.queue)).toMatchObject({ status: 'printed', attempts: 2, possibleDuplicate: true });
    expect(complete()).toHaveLength(2);
  });

  it('cut with the job sent and held in the printer (paper out): the restart clears it and prints once, flagged', async () => {
    r = await rig();
    await powerCutAt('sent:after', { paperOutOnBytes: true });
    const b = await restart();
    expect(b.queue.pending()[0]).toMatchObject({ sent: true });
    await eventually(() => r.sim.stats.clears > 0);
    const done = nextResult(b.queue);
    r.sim.setPaper('ok');
    expect(await done).toMatchObject({ status: 'printed', possibleDuplicate: true });
    expect(complete()).toHaveLength(1);
  });

  it("cut right after the enqueue was fsync'd: the restarted queue prints the job once, not flagged", async () => {
    r = await rig();
    await powerCutAt('queued:after');
    const b = await restart();
    expect(await nextResult(b.queue)).toMatchObject({ status: 'printed', possibleDuplicate: false });
    expect(complete()).toHaveLength(1);
  });
});

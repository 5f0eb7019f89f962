// Persistent print queue. A job is on disk (written, fsync'd, renamed,
// directory fsync'd) before enqueue() resolves, so the command reply "queued"
// is never a lie; it survives printer offline / paper out / unplug and a
// restart of the devices process, and prints once when the printer is back.
//
// Storage: one small JSON file per job, replaced atomically on each state
// change. Chosen over level because the volume is small (a kitchen at a rush
// is ~20 jobs a second), a crash leaves at worst a stray *.tmp (ignored),
// there is no lock to inherit from a killed process, and an installer can
// read the queue with `cat`.
//
// One fsync'd write per job before the paper (issue 14): only the enqueue is
// fsync'd before anything is printed, because only it is promised to someone
// (the "queued" reply). The 'printing' mark (with its process ID) is a
// crash-safe write: the kernel has it the moment the rename returns, so a
// kill -9 of the devices process finds it on restart. The 'sent' mark (every
// byte written to the printer) is fsync'd, after the bytes went out, so it
// delays no ticket: it is what flags a reprint after a power cut. The final
// state ('printed' / 'failed') is fsync'd too, but behind the worker: the next
// job prints while it reaches the disk, and the result is reported only once
// it is there.
//
// Exactly-once, and its honest limit:
//  - Each attempt gets a fresh 4-byte process ID; the job is marked printed
//    only when the printer answers that ID (GS ( H fn 48), which Epson sends
//    "when the printing is completed". Models without it are confirmed by a
//    status round trip after the write (weaker: the data reached the printer).
//  - Before a retry on a new connection the queue sends DLE DC4 fn 8 (clear
//    buffers), so a half-sent attempt still waiting in the printer (paper out,
//    cover open) is dropped, not printed next to the retry.
//  - Residual window: the printer finished printing attempt N but its answer
//    was lost (connection cut after the last byte, or the process died before
//    the "printed" state reached disk). The queue cannot tell that from "never
//    printed", so it prints again and flags the result possibleDuplicate (it
//    knows all bytes had been written). A cut before the last byte leaves a
//    torn fragment without a cut, never a second whole receipt.
//  - A power cut (not a process crash) may also lose the 'printing' mark.
//    A job whose 'printed' had not reached the disk prints again after the
//    cut, flagged possibleDuplicate, since 'sent' was fsync'd. The one
//    unflagged window is between the last byte written to the printer and
//    the 'sent' fsync (one fsync; the printer is still printing then). To keep
//    a half-sent attempt in the printer from printing next to it, a queue that
//    starts with pending jobs clears the printer's buffers before its first
//    job, attempted or not. test/drivers/print-queue-kill9.test.ts models a
//    power cut as the loss of every write not fsync'd.
import { backoffDelay } from '../../lib/backoff.ts';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { type Durability, writeFileAtomic } from '../../lib/atomic-file.ts';
import { DeviceErrorCode, TillboxError } from '../../contract/errors.ts';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { PrintArgs, PrintResult } from '../../contract/devices/printer.ts';
import { renderKitchenTicket, renderReceipt, type ReceiptOptions, type ReceiptSale } from './receipt.ts';
import type { PrinterPort } from './printer.ts';

export type JobState = 'queued' | 'printing' | 'printed' | 'failed';

export interface PrintJob {
  id: string;
  seq: number;
  /** Idempotency key (the command's correlation id): a retried command finds its job. */
  key?: string;
  args: PrintArgs;
  state: JobState;
  attempts: number;
  /** All bytes of some attempt were written: a later attempt may duplicate it. */
  sent: boolean;
  /**
   * An attempt before the current one had written all its bytes: this one may
   * print a second copy. (`sent` alone also covers the current attempt.)
   */
  duplicateRisk?: boolean;
  processId?: string;
  createdAt: string;
  updatedAt: string;
  error?: { code: string; message: string };
  confirmedBy?: 'process-id' | 'status';
}

export class PrintJobError extends TillboxError<string> {
  /** Retrying cannot help (a bad job); the inverse of `retryable`. */
  readonly permanent: boolean;
  constructor(code: string, message: string, permanent: boolean) {
    super(code, message, { retryable: !permanent });
    this.name = 'PrintJobError';
    this.permanent = permanent;
  }
}

// ------------------------------------------------------------ store

/** One JSON file per job, replaced with write (+ fsync) + rename (+ fsync(dir)). */
export class FileJobStore {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  async load(): Promise<PrintJob[]> {
    await mkdir(this.dir, { recursive: true });
    const jobs: PrintJob[] = [];
    for (const name of await readdir(this.dir)) {
      if (name.endsWith('.tmp')) {
        await rm(join(this.dir, name), { force: true }); // a crash mid-write: the previous version is intact
        continue;
      }
      if (!name.endsWith('.json')) continue;
      try {
        const job = JSON.parse(await readFile(join(this.dir, name), 'utf8')) as PrintJob;
        if (typeof job.id === 'string' && Number.isSafeInteger(job.seq)) jobs.push(job);
      } catch {
        // Unreadable job files are kept for a human, never deleted silently.
        await rename(join(this.dir, name), join(this.dir, `${name}.corrupt`)).catch(() => {});
      }
    }
    return jobs.sort((a, b) => a.seq - b.seq);
  }

  #file(job: PrintJob): string {
    return join(this.dir, `${String(job.seq).padStart(12, '0')}.json`);
  }

  /** `durability` is the caller's: see the queue's header for which write needs what. */
  async put(job: PrintJob, durability: Durability): Promise<void> {
    await writeFileAtomic(this.#file(job), JSON.stringify(job), { durability, mode: 0o640 });
  }

  async remove(job: PrintJob): Promise<void> {
    await rm(this.#file(job), { force: true });
  }
}

// ------------------------------------------------------------ queue

export interface PrintQueueContext {
  /** Directory of the job files (one per printer). */
  dir: string;
  printer: PrinterPort;
  /** The devices process fetches the sale from core; undefined = no such sale (permanent failure). */
  resolveSale?: (saleId: string) => Promise<ReceiptSale | undefined>;
  /** Store header, money format, sale code for receipts. */
  receipt: Omit<ReceiptOptions, 'banner' | 'kickDrawer'>;
  logger?: Logger;
  /** Retry backoff after a failed attempt (full jitter). Default 500 ms .. 30 s. */
  retry?: { minMs: number; maxMs: number };
  /** Finished jobs kept on disk for reprint lookups and audit. Default 200. */
  keepFinished?: number;
  random?: () => number;
}

export interface PrintQueueEvents {
  queued: [info: { jobId: string; position: number }];
  attempt: [info: { jobId: string; attempt: number; error?: string }];
  result: [result: PrintResult];
  error: [err: Error];
}

export interface EnqueueResult {
  jobId: string;
  position: number;
  duplicate: boolean;
}

export class PrintQueue extends EventEmitter<PrintQueueEvents> {
  readonly #ctx: PrintQueueContext;
  readonly #store: FileJobStore;
  readonly #jobs = new Map<string, PrintJob>();
  #seq = 0;
  #running = false;
  #abort = new AbortController();
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #clearedOn = -1;
  /** Jobs were pending at start: the printer may hold bytes of an attempt whose mark a power cut lost. */
  #clearFirst = false;
  /** Final-state writes still on their way to the disk, in job order (stop() waits for them). */
  #finishing: Promise<void> = Promise.resolve();
  /** The fsync'd 'sent' mark being written: stop() waits for it (a stop can abandon the print it belongs to). */
  #marking: Promise<void> = Promise.resolve();
  /** Finished in memory, final state not yet on disk: never pruned (the write would bring the file back). */
  readonly #unflushed = new Set<string>();

  constructor(ctx: PrintQueueContext) {
    super();
    this.#ctx = ctx;
    this.#store = new FileJobStore(ctx.dir);
  }

  /** Loads the jobs on disk (a job caught mid-print by a crash is pending again) and starts the worker. */
  async start(): Promise<void> {
    if (this.#running) return;
    for (const j of await this.#store.load()) {
      this.#jobs.set(j.id, j);
      this.#seq = Math.max(this.#seq, j.seq);
    }
    this.#clearFirst = this.pending().length > 0;
    this.#running = true;
    this.#abort = new AbortController();
    this.#loop = this.#run();
  }

  /** Stops the worker; jobs stay on disk exactly as they are. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#abort.abort(new Error('print queue stopped'));
    this.#wake?.();
    await this.#loop;
    await this.#marking;
    await this.#finishing;
  }

  /** Pending jobs in print order. */
  pending(): PrintJob[] {
    return [...this.#jobs.values()].filter((j) => j.state === 'queued' || j.state === 'printing').sort((a, b) => a.seq - b.seq);
  }
  job(id: string): PrintJob | undefined {
    return this.#jobs.get(id);
  }
  jobs(): PrintJob[] {
    return [...this.#jobs.values()].sort((a, b) => a.seq - b.seq);
  }

  /**
   * Durably queues a job; resolves after it is on disk. A `key` already seen
   * (a retried command) returns the existing job with duplicate: true.
   */
  async enqueue(args: PrintArgs, opts: { key?: string } = {}): Promise<EnqueueResult> {
    if (opts.key !== undefined) {
      const existing = [...this.#jobs.values()].find((j) => j.key === opts.key);
      if (existing) return { jobId: existing.id, position: this.#position(existing), duplicate: true };
    }
    if ('raw' in args) {
      const bytes = Buffer.from(args.raw, 'base64');
      if (bytes.length === 0 || bytes.length > 256 * 1024) throw new PrintJobError(DeviceErrorCode.PrintInvalid, 'raw job must be 1 byte .. 256 KiB', true);
    }
    const now = new Date().toISOString();
    const job: PrintJob = { id: randomUUID(), seq: ++this.#seq, args, state: 'queued', attempts: 0, sent: false, createdAt: now, updatedAt: now };
    if (opts.key !== undefined) job.key = opts.key;
    // Durable: "queued" is acknowledged to the sender, and a job lost at a power cut is a ticket never printed.
    await this.#store.put(job, 'durable');
    this.#jobs.set(job.id, job);
    const position = this.#position(job);
    this.emit('queued', { jobId: job.id, position });
    this.#wake?.();
    return { jobId: job.id, position, duplicate: false };
  }

  /** Prints a sale's receipt again, with a COPY banner. */
  reprint(saleId: string, opts: { key?: string } = {}): Promise<EnqueueResult> {
    return this.enqueue({ saleId, reprint: true }, opts);
  }

  #position(job: PrintJob): number {
    return this.pending().findIndex((j) => j.id === job.id);
  }

  // ---------------------------------------------------------------- worker

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    const printer = this.#ctx.printer;
    let failures = 0;
    while (this.#running) {
      const job = this.pending()[0];
      try {
        if (!job) {
          await new Promise<void>((r) => (this.#wake = r));
          this.#wake = undefined;
          continue;
        }
        await printer.waitConnected(signal);
        // A previous attempt may have left bytes in the printer (paper out, cut
        // connection): drop them before they print next to the retry. Done on
        // connect, before waiting for paper, so a refill cannot print them first.
        if ((job.attempts > 0 || this.#clearFirst) && this.#clearedOn !== printer.connectionId) {
          await printer.clearBuffers();
          this.#clearedOn = printer.connectionId;
          this.#clearFirst = false;
        }
        await printer.waitReady(signal);
        const data = await this.#render(job);
        if (job.sent) job.duplicateRisk = true;
        job.attempts++;
        job.state = 'printing';
        job.processId = processIdFor(job.seq, job.attempts);
        // Crash-safe is enough: a kill -9 from here on finds the mark; see the header for a power cut.
        await this.#save(job, 'crash-safe');
        this.emit('attempt', { jobId: job.id, attempt: job.attempts });
        // From here on a retry must clear the printer first, whatever happens.
        this.#clearedOn = printer.connectionId;
        const printing = printer.print(data, job.processId, {
          onWritten: async () => {
            if (!job.sent) {
              job.sent = true;
              // fsync'd: after a power cut, this mark is what flags a reprint possibleDuplicate.
              const saved = this.#save(job, 'durable');
              this.#marking = saved.catch(() => {});
              await saved;
            }
          },
        });
        printing.catch(() => {}); // stop() may abandon it; its rejection is not news then
        // stop() must not wait for a printer that is out of paper.
        const outcome = await raceAbort(printing, signal);
        job.confirmedBy = outcome.confirmedBy;
        this.#finish(job, 'printed');
        failures = 0;
      } catch (err) {
        if (!this.#running) break;
        if (job && err instanceof PrintJobError && err.permanent) {
          job.error = { code: err.code, message: err.message };
          this.#finish(job, 'failed');
          continue;
        }
        const message = err instanceof Error ? err.message : String(err);
        this.#ctx.logger?.warn({ err, jobId: job?.id }, 'print attempt failed; will retry');
        if (job) this.emit('attempt', { jobId: job.id, attempt: job.attempts, error: message });
        await this.#sleep(failures++, signal);
      }
    }
  }

  async #render(job: PrintJob): Promise<Buffer> {
    const a = job.args;
    const model = this.#ctx.printer.model;
    if ('raw' in a) return Buffer.from(a.raw, 'base64');
    if ('ticket' in a) return renderKitchenTicket(model, a.ticket);
    const resolve = this.#ctx.resolveSale;
    if (!resolve) throw new PrintJobError(DeviceErrorCode.PrintNoResolver, 'no sale resolver configured', true);
    let sale: ReceiptSale | undefined;
    try {
      sale = await resolve(a.saleId);
    } catch (err) {
      // Core unreachable: transient, retry later.
      throw new PrintJobError(DeviceErrorCode.PrintSaleUnavailable, `cannot fetch sale ${a.saleId}: ${err instanceof Error ? err.message : String(err)}`, false);
    }
    if (!sale) throw new PrintJobError('TB_NOT_FOUND', `sale ${a.saleId} not found`, true);
    const opts: ReceiptOptions = { ...this.#ctx.receipt };
    if (a.reprint) opts.banner = 'COPY';
    if (a.kickDrawer && model.drawer) opts.kickDrawer = model.drawer.pins[0] ?? 2;
    return renderReceipt(model, sale, opts);
  }

  async #save(job: PrintJob, durability: Durability): Promise<void> {
    job.updatedAt = new Date().toISOString();
    await this.#store.put(job, durability);
  }

  /**
   * Ends a job: the worker moves on at once (the job is no longer pending in
   * memory), the final state is fsync'd behind it, and the result is reported
   * only once it is on disk. If that write fails the job is not printed again
   * by this process; on disk it keeps its last mark (a restart retries it and
   * flags it possibleDuplicate when all its bytes had been sent).
   */
  #finish(job: PrintJob, state: 'printed' | 'failed'): void {
    job.state = state;
    job.updatedAt = new Date().toISOString();
    this.#unflushed.add(job.id);
    // The chain never rejects: one failed write (or a throwing listener) must not stop later jobs' results.
    this.#finishing = this.#finishing.then(() =>
      this.#report(job).catch((e: Error) => {
        try {
          this.emit('error', e);
        } catch {}
      }),
    );
  }

  async #report(job: PrintJob): Promise<void> {
    // Kept out of #prune until the final state is on disk: a job whose write
    // failed keeps its file with its last mark, and a restart retries it.
    await this.#store.put(job, 'durable');
    this.#unflushed.delete(job.id);
    const state = job.state as 'printed' | 'failed';
    const result: PrintResult = {
      jobId: job.id,
      status: state,
      attempts: job.attempts,
      possibleDuplicate: state === 'printed' && job.duplicateRisk === true,
      at: job.updatedAt,
    };
    if ('saleId' in job.args) result.saleId = job.args.saleId;
    if (job.confirmedBy) result.confirmedBy = job.confirmedBy;
    if (job.error) result.error = job.error;
    this.emit('result', result);
    await this.#prune();
  }

  async #prune(): Promise<void> {
    const keep = this.#ctx.keepFinished ?? 200;
    const finished = this.jobs().filter((j) => (j.state === 'printed' || j.state === 'failed') && !this.#unflushed.has(j.id));
    for (const j of finished.slice(0, Math.max(0, finished.length - keep))) {
      this.#jobs.delete(j.id);
      await this.#store.remove(j);
    }
  }

  #sleep(failures: number, signal: AbortSignal): Promise<void> {
    const r = this.#ctx.retry ?? { minMs: 500, maxMs: 30_000 };
    const ms = backoffDelay(failures, { baseMs: r.minMs, maxMs: r.maxMs, floorMs: r.minMs / 2, ...(this.#ctx.random ? { random: this.#ctx.random } : {}) });
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => (signal.removeEventListener('abort', onAbort), resolve(v)),
      (e: unknown) => (signal.removeEventListener('abort', onAbort), reject(e)),
    );
  });
}

/** 4 printable bytes (GS ( H allows 32..126) unique per (seq, attempt) for 78 million attempts. */
export function processIdFor(seq: number, attempt: number): string {
  let n = (seq * 8 + (attempt % 8)) % 94 ** 4;
  let s = '';
  for (let i = 0; i < 4; i++) {
    s = String.fromCharCode(33 + (n % 94)) + s;
    n = Math.floor(n / 94);
  }
  return s;
}

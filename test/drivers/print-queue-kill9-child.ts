// Child of print-queue-kill9.test.ts: a print queue on `dir` driving the
// simulator on `port`, that SIGKILLs itself at one step of a job's life.
// Step = <state>:<before|after> of the job-file write that records it
// (queued, printing, sent, printed). Prints "ready" once the printer is,
// enqueues on a line from stdin, then prints "enqueued" once the enqueue
// resolved (the "queued" reply a sender would get). With a fifth argument
// `power`, it also copies every fsync'd job file to <dir>.durable: what a
// power cut that loses every write not yet fsync'd would leave.
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { MODELS } from '../../drivers/printer/models.ts';
import { EscPosPrinter } from '../../drivers/printer/printer.ts';
import { FileJobStore, type PrintJob, PrintQueue } from '../../drivers/printer/queue.ts';
import { sampleSale } from '../../drivers/printer/testing.ts';
import { TcpTransport } from '../../drivers/transports/tcp.ts';

const [dir, port, saleId, step, mode] = process.argv.slice(2) as [string, string, string, string, string | undefined];
const [state, when] = step.split(':') as [string, 'before' | 'after'];

const put = FileJobStore.prototype.put;
FileJobStore.prototype.put = async function (this: FileJobStore, job: PrintJob, durability) {
  const mark = job.state === 'printing' && job.sent ? 'sent' : job.state;
  if (mark === state && when === 'before') process.kill(process.pid, 'SIGKILL');
  await put.call(this, job, durability);
  if (mode === 'power' && durability === 'durable') {
    const name = `${String(job.seq).padStart(12, '0')}.json`;
    mkdirSync(`${dir}.durable`, { recursive: true });
    copyFileSync(join(dir, name), join(`${dir}.durable`, name));
  }
  if (mark === state && when === 'after') process.kill(process.pid, 'SIGKILL');
};

const transport = new TcpTransport({ host: '127.0.0.1', port: Number(port), connectTimeoutMs: 2000 });
const printer = new EscPosPrinter({ transport, model: MODELS['epson-tm-t88'], statusPollMs: 50, reconnect: { minMs: 20, maxMs: 100 } });
const queue = new PrintQueue({ dir, printer, resolveSale: async (id) => sampleSale(id), receipt: { store: { name: 'Test Shop' } }, retry: { minMs: 20, maxMs: 100 } });
printer.start();
await queue.start();
await printer.waitReady();
console.log('ready');
await new Promise((go) => process.stdin.once('data', go));
await queue.enqueue({ saleId }, { key: 'corr-1' });
console.log('enqueued');

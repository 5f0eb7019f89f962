// Crash-test child: appends concurrent events forever until the parent kills it
// with SIGKILL. Protocol on stdout, one JSON object per line, written with a
// synchronous write so a line is in the pipe before the next step:
//   {"t":"ready","lastSeq":n}            after start()
//   {"t":"intent","key":k}               before append(k)
//   {"t":"ack","key":k,"seq":s,"id":i,"hlc":h}   only after append(k) resolved
// Usage: node test/journal/crash-child.ts <dir> [workers]
import { writeSync } from 'node:fs';
import { silentLogger } from '../../appliance/log.ts';
import { LevelJournal } from '../../appliance/journal/level-journal.ts';
import { crashRequest } from './crash-request.ts';

const dir = process.argv[2];
const workers = Number(process.argv[3] ?? 16);
if (!dir) {
  process.stderr.write('usage: crash-child.ts <dir> [workers]\n');
  process.exit(2);
}

// stdout is a non-blocking pipe: when a loaded parent reads slowly, writeSync
// fails with EAGAIN. Retry until the whole line is in the pipe, so the
// protocol's ordering (intent before append, ack after it) holds.
const say = (obj: unknown): void => {
  const line = Buffer.from(`${JSON.stringify(obj)}\n`);
  for (let off = 0; off < line.length; ) {
    try {
      off += writeSync(1, line, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
};

const journal = new LevelJournal({ dir, deviceId: 'crash-box', storeId: 'crash-store', log: silentLogger() });
await journal.start();
say({ t: 'ready', lastSeq: journal.lastSeq });

const run = `${process.pid}-${Date.now().toString(36)}`;
async function worker(w: number): Promise<void> {
  for (let n = 0; ; n++) {
    const key = `${run}-${w}-${n}`;
    say({ t: 'intent', key });
    const { event } = await journal.append(crashRequest(key));
    say({ t: 'ack', key, seq: event.seq, id: event.id, hlc: event.hlc });
  }
}
await Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));

// Bench-only probe (bench/store-load.ts loads it into core, devices and flows
// with NODE_OPTIONS=--import when TILLBOX_BENCH_PROBE=1; nothing else does).
// Every second it writes one line to stderr:
//   TILLBOX_PROBE {"at":<epoch ms>,"p50":..,"p99":..,"max":..,"fsyncs":n}
// - event-loop delay of that second (ms beyond the sampling interval): what a
//   request arriving then waited before its handler could run;
// - fsyncs issued through Node's fs since start (FileHandle.sync/datasync,
//   fs.fsync/fdatasync and their Sync forms). LevelDB's own fsyncs (journal,
//   broker store) are native and not counted here.
// It lives in lib/ because the flows process may only read the code folders.
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const RESOLUTION_MS = 2;
const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
h.enable();
let fsyncs = 0;

const counted = <F extends (...a: never[]) => unknown>(f: F): F =>
  function (this: unknown, ...a: Parameters<F>) {
    fsyncs++;
    return f.apply(this, a);
  } as F;

// FileHandle is not exported: reach its prototype through a handle.
const fh = await fs.promises.open(process.execPath, 'r');
const proto = Object.getPrototypeOf(fh) as { sync: () => Promise<void>; datasync: () => Promise<void> };
await fh.close();
proto.sync = counted(proto.sync);
proto.datasync = counted(proto.datasync);
fs.fsync = counted(fs.fsync);
fs.fsyncSync = counted(fs.fsyncSync);
fs.fdatasync = counted(fs.fdatasync);
fs.fdatasyncSync = counted(fs.fdatasyncSync);
syncBuiltinESMExports(); // so `import { fsyncSync } from 'node:fs'` sees the counted one

const ms = (ns: number) => Math.max(0, Math.round((ns / 1e6 - RESOLUTION_MS) * 100) / 100);
setInterval(() => {
  process.stderr.write(`TILLBOX_PROBE ${JSON.stringify({ at: Date.now(), p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max), fsyncs })}\n`);
  h.reset();
}, 1000).unref();

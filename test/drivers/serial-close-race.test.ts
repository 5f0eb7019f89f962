import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// A native crash cannot be caught in-process, so the race runs in a child and
// the test reads how it ended.
describe('closing a serial port while a read is in flight', () => {
  it('never segfaults the process (bindings-cpp poller polled after destroy)', async () => {
    const child = spawn(process.execPath, [resolve(import.meta.dirname, 'serial-close-race-child.ts'), '15'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (out += d));
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once('exit', (c, s) => r([c, s])));
    expect({ code, signal, out: out.trim().split('\n').at(-1) }).toEqual({ code: 0, signal: null, out: 'survived' });
  }, 180_000);
});

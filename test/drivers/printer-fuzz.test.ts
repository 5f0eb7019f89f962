import { describe, expect, it } from 'vitest';
import { StatusFrameParser } from '../../drivers/printer/status.ts';
import { EscPosTokenizer } from '../../drivers/sim/printer-escpos.ts';
import { SimPrinter } from '../../drivers/sim/printer.ts';
import { connect } from 'node:net';

// Seeded fuzzing: the same seeds every run, so a failure reproduces.
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
/** Random bytes biased towards command introducers and status patterns, so parsers see deep states. */
function noise(rand: () => number, n: number): Buffer {
  const hot = [0x1b, 0x1d, 0x10, 0x1c, 0x04, 0x14, 0x28, 0x6b, 0x76, 0x38, 0x37, 0x22, 0x00, 0x10, 0x12, 0x0a, 0xff];
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rand() < 0.3 ? hot[Math.floor(rand() * hot.length)]! : Math.floor(rand() * 256);
  return b;
}
function chunks(rand: () => number, data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; ) {
    const n = 1 + Math.floor(rand() * 64);
    out.push(data.subarray(i, i + n));
    i += n;
  }
  return out;
}

describe('fuzz', () => {
  it('status frame parser: random bytes never throw and always yield frames', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rand = mulberry32(seed);
      let frames = 0;
      const p = new StatusFrameParser(() => frames++, { setTimer: () => 0, clearTimer: () => {} });
      for (const c of chunks(rand, noise(rand, 4096))) p.push(c);
      p.flush();
      expect(frames).toBeGreaterThan(0);
    }
  });

  it('simulator tokenizer: random bytes never throw and buffer at most maxBuffered', () => {
    const max = 4096;
    for (let seed = 1; seed <= 200; seed++) {
      const rand = mulberry32(seed);
      let tokens = 0;
      const t = new EscPosTokenizer(() => tokens++, { maxBuffered: max });
      for (const c of chunks(rand, noise(rand, 8192))) {
        t.push(c);
        expect(t.buffered).toBeLessThanOrEqual(max);
      }
      expect(tokens).toBeGreaterThan(0);
    }
  });

  it('a declared 4 GB raster image is skipped, not buffered, and parsing resumes after it', () => {
    const names: string[] = [];
    const t = new EscPosTokenizer((tok) => names.push(tok.name), { maxBuffered: 1024 });
    // GS 8 L p1..p4 = 0x00000010 + 0xffffff00... use GS v 0 with 255*255 bytes of payload instead.
    const header = Buffer.from([0x1d, 0x76, 0x30, 0x00, 0xff, 0x00, 0xff, 0x00]);
    t.push(header);
    t.push(Buffer.alloc(255 * 255, 0x1b)); // payload full of ESC must not be parsed as commands
    t.push(Buffer.from('ok\n'));
    expect(names).toEqual(['GS v', 'text', 'LF']);
    expect(t.buffered).toBe(0);
  });

  it('simulator over TCP survives random bytes; a fresh connection still gets DLE EOT answers', async () => {
    const sim = await new SimPrinter().start();
    try {
      const rand = mulberry32(42);
      const s = connect(sim.port, '127.0.0.1');
      s.on('error', () => {});
      await new Promise((r) => s.once('connect', r));
      for (let i = 0; i < 20; i++) s.write(noise(rand, 2048));
      await new Promise<void>((r) => s.end(() => r()));
      // The noise may declare a gigabyte image that swallows the rest of that
      // connection (a real printer waits for it too); a new connection starts clean.
      sim.setPaper('ok');
      sim.setCover(false);
      const c = connect(sim.port, '127.0.0.1');
      const reply = new Promise<Buffer>((resolve) => c.once('data', resolve));
      c.write(Buffer.from([0x10, 0x04, 0x04]));
      expect((await reply)[0]).toBe(0x12);
      c.destroy();
      s.destroy();
    } finally {
      await sim.stop();
    }
  });
});

// A sysfs-like GPIO binding for tests (the MockBinding idea): lines hold
// levels, inputs are driven from the test with drive(), every output write is
// recorded. Edge watchers fire synchronously like onoff's epoll callback.
import type { Edge, GpioBinding, GpioLine, Level } from './binding.ts';

interface FakeLine {
  direction: 'in' | 'out';
  edge: Edge;
  value: Level;
  watchers: ((err: Error | null | undefined, v: Level) => void)[];
  exported: boolean;
}

export class FakeGpioBinding implements GpioBinding {
  readonly accessible: boolean;
  readonly lines = new Map<number, FakeLine>();
  /** Every output write: [line, level]. */
  readonly writes: [number, Level][] = [];

  constructor(opts: { accessible?: boolean } = {}) {
    this.accessible = opts.accessible ?? true;
  }

  open(line: number, direction: 'in' | 'out' | 'high' | 'low', edge: Edge = 'none'): GpioLine {
    if (!this.accessible) throw new Error('EACCES: no GPIO');
    const l: FakeLine = this.lines.get(line) ?? { direction: 'in', edge, value: 0, watchers: [], exported: true };
    l.direction = direction === 'in' ? 'in' : 'out';
    l.edge = edge;
    l.exported = true;
    if (direction === 'high') l.value = 1;
    if (direction === 'low') l.value = 0;
    this.lines.set(line, l);
    return {
      read: async () => l.value,
      write: async (v) => {
        if (l.direction !== 'out') throw new Error(`EPERM: line ${line} is an input`);
        l.value = v;
        this.writes.push([line, v]);
      },
      watch: (cb) => void l.watchers.push(cb),
      unwatchAll: () => void (l.watchers = []),
      unexport: () => void ((l.exported = false), (l.watchers = [])),
    };
  }

  /** Drives an input (a contact bouncing, a sensor switching). */
  drive(line: number, v: Level): void {
    const l = this.lines.get(line) ?? { direction: 'in' as const, edge: 'none' as Edge, value: 0 as Level, watchers: [], exported: false };
    this.lines.set(line, l);
    if (l.value === v) return;
    l.value = v;
    const fire = l.edge === 'both' || (l.edge === 'rising' && v === 1) || (l.edge === 'falling' && v === 0);
    if (fire) for (const w of l.watchers) w(null, v);
  }

  level(line: number): Level | undefined {
    return this.lines.get(line)?.value;
  }
}

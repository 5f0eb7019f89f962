// A device that disconnects (transport close {disconnected:true}) while its
// driver's start() is still pending must not be reported online afterwards:
// it stays offline, is stopped once, and is retried with backoff.
import { describe, expect, it } from 'vitest';
import type { PeripheralState } from '../../contract/devices.ts';
import { silentLogger } from '../../appliance/log.ts';
import { PeripheralRunner, type DriverHooks } from '../../appliance/devices/runner.ts';

describe('PeripheralRunner', () => {
  it('a disconnect during start() leaves the peripheral offline and retries, never online with a dead driver', async () => {
    const states: PeripheralState[] = [];
    let hooks: DriverHooks | undefined;
    let releaseStart: (() => void) | undefined;
    let stops = 0;
    let attempt = 0;
    let retried: (() => void) | undefined;
    let beforeRetry: string[] = [];
    const retriedP = new Promise<void>((r) => (retried = r));
    const runner = new PeripheralRunner({
      spec: { id: 'scanner-x', kind: 'scanner', uri: 'serial:///dev/null', source: 'config', options: {} },
      log: silentLogger(),
      sink: { setState: (s) => states.push(s), publishEvent: () => {} },
      minBackoffMs: 1,
      maxBackoffMs: 2,
      factory: (_spec, h) => {
        const n = ++attempt;
        hooks = h;
        if (n === 2) beforeRetry = states.map((s) => s.state);
        return {
          start: () => (n === 1 ? new Promise<void>((r) => (releaseStart = r)) : (retried!(), Promise.resolve())),
          stop: async () => {
            stops++;
          },
        };
      },
    });
    const attached = runner.attach();
    while (!releaseStart) await new Promise((r) => setImmediate(r));
    hooks!.down('disconnected: serial device hung up (EOF)');
    hooks!.down('disconnected: again'); // a second report of the same loss changes nothing
    releaseStart();
    await attached;
    await retriedP;
    expect(beforeRetry).not.toContain('online');
    expect(beforeRetry.at(-1)).toBe('offline');
    expect(beforeRetry.filter((s) => s === 'offline')).toHaveLength(1);
    expect(stops).toBe(1);
    expect(attempt).toBe(2);
    await runner.dispose();
  });
});

// kill -9 of the devices process during sales: selling is unaffected (core
// does not depend on it), the supervisor restarts it alone, and it comes back
// online on the broker.
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBox, postSale, type BoxProcess } from '../../harness/box.ts';
import { Supervisor } from '../../appliance/supervisor/supervisor.ts';
import { silentLogger } from '../../appliance/log.ts';
import { Observer } from './support.ts';

const MAIN = resolve(import.meta.dirname, '../../appliance/cli/main.ts');
const S = 'demo-store';

describe('devices process killed during sales', { timeout: 90_000 }, () => {
  let box: BoxProcess;
  let obs: Observer;
  let sup: Supervisor;

  beforeAll(async () => {
    box = await startBox();
    obs = await Observer.connect(box.stateDir, `store/${S}/devices/host/state`);
    sup = new Supervisor({
      log: silentLogger(),
      children: [{ name: 'devices', args: [MAIN, 'devices', '--demo', '--state-dir', box.stateDir], env: { TILLBOX_LOG_LEVEL: 'warn' } }],
      minBackoffMs: 50,
      maxBackoffMs: 200,
      onOutput: () => {},
    });
    sup.start();
  }, 60_000);

  afterAll(async () => {
    await sup?.stop();
    await obs?.close();
    await box?.stop();
  });

  it('sales keep succeeding while the devices process is SIGKILLed, and it is restarted and back online', async () => {
    const online = (since: number) => obs.wait((m) => m.payload !== '' && m.json().state === 'online' && m.json().pid !== undefined, since);
    await online(0);
    let ok = 0;
    for (let round = 0; round < 3; round++) {
      const pid = sup.pid('devices')!;
      const since = obs.mark();
      const sales = Array.from({ length: 10 }, (_, i) => postSale(box.port, `kill9-${round}-${i}-${Date.now()}`, { lines: [{ sku: 'MILK-1L', qty: 1 }], tenders: [{ type: 'cash', amount: 500 }] }));
      process.kill(pid, 'SIGKILL');
      for (const r of await Promise.all(sales)) {
        expect(r.status).toBe(201);
        ok++;
      }
      // The broker noticed (last will) and the supervisor brought a new one up.
      await obs.wait((m) => m.payload !== '' && m.json().state === 'lost', since);
      const back = await obs.wait((m) => m.payload !== '' && m.json().state === 'online' && m.json().pid !== pid, since);
      expect(back.json().pid).toBe(sup.pid('devices'));
    }
    expect(ok).toBe(30);
    expect(sup.restarts('devices')).toBeGreaterThanOrEqual(3);
  });
});

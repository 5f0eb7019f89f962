import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { SdNotify } from './sd-notify.ts';

// A real notification socket (a unix datagram socket, received by socat, as
// systemd's would be) and the real systemd-notify.
const haveTools = existsSync('/usr/bin/systemd-notify') && existsSync('/usr/bin/socat');

/** A notification socket as systemd's would be (a unix datagram socket, received by socat); `received` is what arrived. */
async function withNotifySocket(fn: (sock: string, received: () => string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tillbox-sdnotify-'));
  const sock = join(dir, 'notify');
  const out = join(dir, 'received');
  // exec: the kill below must reach socat itself, not only its shell (a leaked socat outlived the suite).
  const socat = spawn('sh', ['-c', `exec socat -u UNIX-RECV:${sock} - > ${out}`]);
  try {
    for (let i = 0; i < 100 && !existsSync(sock); i++) await sleep(20);
    await fn(sock, () => readFileSync(out, 'utf8'));
  } finally {
    socat.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!haveTools)('SdNotify', () => {
  it('sends READY=1 with a status, watchdog pings, and STOPPING=1', async () => {
    await withNotifySocket(async (sock, received) => {
      const env = { ...process.env, NOTIFY_SOCKET: sock, WATCHDOG_USEC: '1000000', WATCHDOG_PID: String(process.pid) };
      let healthy = true;
      const sd = new SdNotify({ env, healthy: () => healthy });
      expect(sd.watchdogMs).toBe(1000);
      await sd.ready('serving');
      for (let i = 0; i < 100 && !received().includes('WATCHDOG=1'); i++) await sleep(50);
      healthy = false;
      await sd.stopping();
      await sleep(200);
      const got = received();
      expect(got).toContain('READY=1');
      expect(got).toContain('STATUS=serving');
      expect(got).toContain('WATCHDOG=1');
      expect(got).toContain('STOPPING=1');
    });
  });

  it('resets the watchdog with the READY message itself, before the first ping is due', async () => {
    await withNotifySocket(async (sock, received) => {
      // A 10-minute watchdog: no ping is due during this test, so a WATCHDOG=1 came with READY=1.
      const sd = new SdNotify({ env: { ...process.env, NOTIFY_SOCKET: sock, WATCHDOG_USEC: '600000000', WATCHDOG_PID: String(process.pid) } });
      await sd.ready('serving');
      await sleep(200);
      const got = received();
      expect(got).toContain('READY=1');
      expect(got).toContain('WATCHDOG=1');
      await sd.stopping();
    });
  });

  it('does nothing outside systemd and ignores a watchdog meant for another process', async () => {
    const sd = new SdNotify({ env: {} });
    expect(sd.enabled).toBe(false);
    await sd.ready('serving');
    await sd.stopping();
    expect(new SdNotify({ env: { NOTIFY_SOCKET: '/x', WATCHDOG_USEC: '1000000', WATCHDOG_PID: '1' } }).watchdogMs).toBeUndefined();
  });
});

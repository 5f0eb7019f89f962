// Bug: /dev/serial/by-id removed and created again (last device unplugged,
// next one plugged) often gets the same inode number back on ext4; the
// watcher kept its watch on the deleted directory, so a device unplugged
// afterwards was never reported and its runner retried forever (the flaky
// "scanner unplugged mid-read" test). The watcher must follow the new one.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SerialByIdWatcher, type SerialEntry } from '../../appliance/devices/hotplug.ts';

describe('SerialByIdWatcher', () => {
  const root = mkdtempSync(join(tmpdir(), 'tillbox-byid-inode-'));
  const dir = join(root, 'by-id');
  const target = join(root, 'ttyFAKE0');
  const w = new SerialByIdWatcher(dir);
  afterAll(() => {
    w.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const next = (event: 'attach' | 'detach') => new Promise<SerialEntry>((resolve) => w.once(event, resolve));

  it('reports links in a by-id directory that was removed and created again, whatever inode it got', async () => {
    mkdirSync(target);
    mkdirSync(dir);
    await w.start();
    for (let round = 0; round < 5; round++) {
      // On ext4 the new directory usually gets the old inode number back.
      rmSync(dir, { recursive: true });
      mkdirSync(dir);
      await w.rescan();
      const attached = next('attach');
      symlinkSync(target, join(dir, `usb-Sim_Scanner_${round}-if00`));
      expect((await attached).name).toBe(`usb-Sim_Scanner_${round}-if00`);
      const detached = next('detach');
      unlinkSync(join(dir, `usb-Sim_Scanner_${round}-if00`));
      expect((await detached).name).toBe(`usb-Sim_Scanner_${round}-if00`);
    }
  });
});

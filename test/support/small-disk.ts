import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// A small real filesystem for disk-full tests: a tmpfs of a few MB mounted on
// a fresh directory. Needs root (CI runs as root); `canMountSmallDisk` lets a
// test file say why it skips elsewhere.

export const canMountSmallDisk = process.getuid?.() === 0;

export interface SmallDisk {
  dir: string;
  unmount(): void;
}

export function mountSmallDisk(sizeMB: number): SmallDisk {
  const dir = mkdtempSync(join(tmpdir(), 'tillbox-small-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMB}m,mode=0700`, 'tillbox-test', dir]);
  return {
    dir,
    unmount() {
      try {
        execFileSync('umount', ['-l', dir]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

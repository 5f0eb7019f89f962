import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

// Harness for test/faults/faultfs.py, the LazyFS-style passthrough filesystem:
// data written since a file's last fsync lives only in the FUSE process, so
// powerCut() loses exactly what a real power cut loses. Needs root and
// /dev/fuse (Debian's fuse3 and python3-fusepy; scripts/setup-system.sh).

const SCRIPT = resolve(import.meta.dirname, 'faultfs.py');
/** Debian's python3 (python3-fusepy lives there), not a pyenv shim that lacks it. */
const PYTHON = '/usr/bin/python3';

export const canUseFaultFs = process.getuid?.() === 0 && existsSync('/dev/fuse') && existsSync(PYTHON) && hasFusepy();

function hasFusepy(): boolean {
  try {
    execFileSync(PYTHON, ['-c', 'import fusepy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface FaultFsStats {
  writes: number;
  fsyncs: number;
  dropped_bytes: number;
  injected: number;
  drops: number;
  pending_bytes: number;
}

export class FaultFs {
  readonly root: string;
  /** Where the code under test writes. */
  readonly mountpoint: string;
  readonly #backing: string;
  readonly #socket: string;
  #child: ChildProcess | undefined;

  constructor() {
    this.root = mkdtempSync(join(tmpdir(), 'tillbox-faultfs-'));
    this.#backing = join(this.root, 'backing');
    this.mountpoint = join(this.root, 'mnt');
    this.#socket = join(this.root, 'control.sock');
    mkdirSync(this.#backing, { mode: 0o700 });
    mkdirSync(this.mountpoint, { mode: 0o700 });
  }

  async mount(): Promise<void> {
    const child = spawn(PYTHON, [SCRIPT, this.#backing, this.mountpoint, this.#socket], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    this.#child = child;
    const t0 = Date.now();
    while (!isMounted(this.mountpoint) || !existsSync(this.#socket)) {
      if (child.exitCode !== null) throw new Error(`faultfs exited ${child.exitCode}: ${err}`);
      if (Date.now() - t0 > 10_000) throw new Error(`faultfs did not mount in 10 s: ${err}`);
      await sleep(20);
    }
  }

  async control(command: string): Promise<string> {
    return new Promise((res, rej) => {
      const s = connect(this.#socket);
      let out = '';
      s.on('data', (d) => {
        out += d.toString();
        if (out.includes('\n')) {
          s.end();
          res(out.trim());
        }
      });
      s.on('error', rej);
      s.write(`${command}\n`);
    });
  }

  async stats(): Promise<FaultFsStats> {
    return JSON.parse(await this.control('stats')) as FaultFsStats;
  }

  /**
   * Power cut: unsynced data is dropped and the filesystem is unmounted and
   * mounted again (so not even the kernel's page cache of it survives). Kill
   * the processes using it first.
   */
  async powerCut(): Promise<void> {
    await this.control('drop');
    await this.unmount();
    await this.mount();
  }

  async unmount(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    for (let i = 0; i < 50 && isMounted(this.mountpoint); i++) {
      try {
        execFileSync('fusermount', ['-u', this.mountpoint], { stdio: 'ignore' });
      } catch {
        await sleep(50);
      }
    }
    if (isMounted(this.mountpoint)) execFileSync('umount', ['-l', this.mountpoint]);
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    this.#child = undefined;
  }

  async destroy(): Promise<void> {
    await this.unmount();
    rmSync(this.root, { recursive: true, force: true });
  }
}

function isMounted(dir: string): boolean {
  try {
    return execFileSync('findmnt', ['-n', '-M', dir], { encoding: 'utf8' }).trim().length > 0;
  } catch {
    return false;
  }
}

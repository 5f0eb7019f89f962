import { readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';

// runtime.json: what a running box actually bound (ports may be 0 in tests),
// so `tillbox doctor`, tests and the bench find it. Removed on clean stop.
export interface RuntimeInfo {
  pid: number;
  startedAt: string;
  storeId: string;
  deviceId: string;
  http: { host: string; port: number };
  mqtt: { tcp?: { host: string; port: number }; tls?: { host: string; port: number }; ws?: { host: string; port: number } };
}

export function writeRuntime(file: string, info: RuntimeInfo): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(info, null, 2) + '\n', { mode: 0o644 });
  renameSync(tmp, file);
}

export function readRuntime(file: string): RuntimeInfo | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as RuntimeInfo;
  } catch {
    return undefined;
  }
}

export function removeRuntime(file: string): void {
  rmSync(file, { force: true });
}

/** True when a process with this pid exists (signal 0 probes without sending). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

import { readFileSync, rmSync } from 'node:fs';
import { writeFileAtomicSync } from '../../lib/atomic-file.ts';

// runtime.json: what a running box actually bound (ports may be 0 in tests),
// so `tillbox doctor`, tests and the bench find it. Removed on clean stop.
export interface Listener {
  host: string;
  port: number;
  scheme?: string;
}

export interface RuntimeInfo {
  pid: number;
  startedAt: string;
  storeId: string;
  deviceId: string;
  http: { host: string; port: number };
  /** Each bound listener with the scheme clients use (ws or wss follows mqtt.ws.tls). */
  mqtt: { tcp?: Listener; tls?: Listener; ws?: Listener };
}

export function writeRuntime(file: string, info: RuntimeInfo): void {
  // crash-safe, not durable: it describes this boot's process only and is rewritten at every start.
  writeFileAtomicSync(file, JSON.stringify(info, null, 2) + '\n', { durability: 'crash-safe', mode: 0o644 });
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

import { readFileSync, rmSync } from 'node:fs';
import { compileSchema } from '../../lib/validate.ts';
import { writeFileAtomicSync } from '../../lib/atomic-file.ts';
import { RuntimeInfo as RuntimeInfoSchema, type Listener, type RuntimeInfo } from '../../contract/runtime.ts';

// runtime.json (its schema: contract/runtime.ts). Removed on clean stop.
export type { Listener, RuntimeInfo };

const valid = compileSchema(RuntimeInfoSchema);

export function writeRuntime(file: string, info: RuntimeInfo): void {
  // crash-safe, not durable: it describes this boot's process only and is rewritten at every start.
  writeFileAtomicSync(file, JSON.stringify(info, null, 2) + '\n', { durability: 'crash-safe', mode: 0o644 });
}

/** The running core's runtime.json, or undefined when missing, unreadable or not of the contract's shape. */
export function readRuntime(file: string): RuntimeInfo | undefined {
  try {
    const doc: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return valid(doc) ? doc : undefined;
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

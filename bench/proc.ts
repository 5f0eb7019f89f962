import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

// What the benchmarks read about a process from Linux's /proc: resident
// memory (VmRSS, what the Pi's 2 GB are spent on) and CPU time (utime + stime
// of /proc/<pid>/stat, in clock ticks), and the process tree under a pid.

/** Resident memory of a process in MB (one decimal), NaN when it is gone. */
export function rssMB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/**
 * Proportional set size in MB: resident pages, each shared page divided by
 * the number of processes mapping it. The box's Node processes share the
 * Node binary's ~40 MB of code, which RSS counts once per process.
 */
export function pssMB(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Clock ticks per second of utime/stime (USER_HZ; 100 on every Linux we ship, asked once). */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses). */
function statFields(pid: number): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) a process has used so far; NaN when it is gone. */
export function cpuSeconds(pid: number): number {
  const f = statFields(pid);
  // Fields 14 and 15 of stat (utime, stime); index 0 here is field 3 (state).
  return f ? (Number(f[11]) + Number(f[12])) / CLK_TCK : Number.NaN;
}

/** Every live descendant of `pid` (children first, then theirs), without threads. */
export function descendants(pid: number): number[] {
  const byParent = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (!f) continue;
    const ppid = Number(f[1]);
    byParent.set(ppid, [...(byParent.get(ppid) ?? []), Number(name)]);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of byParent.get(queue.shift()!) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

/** The command line of a process, NUL-separated arguments as an array (empty when gone). */
export function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

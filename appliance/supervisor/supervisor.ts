import { backoffDelay } from '../../lib/backoff.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { isatty } from 'node:tty';
import type { Logger } from '../log.ts';

// Development and demo supervisor: `tillbox start` runs core, devices and
// flows as child processes and restarts whichever dies, so a crashing driver
// addon never takes selling down. On the image each is a systemd unit instead.

export interface ChildSpec {
  name: string;
  /** Arguments after the Node binary (script and its arguments). */
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** Restart when it exits (default true). */
  restart?: boolean;
  /**
   * Stop this child only after the others have exited (core: devices and
   * flows still publish their offline states to its broker while stopping).
   */
  stopLast?: boolean;
}

export interface SupervisorContext {
  children: ChildSpec[];
  log: Logger;
  /** Node binary for the children (default: this process's). */
  execPath?: string;
  /** Backoff bounds for restarts (full jitter). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Called when a child exits with a code that restarting cannot fix (see fatalExitCodes). */
  onFatal?: (name: string, code: number) => void;
  /** Exit codes that mean "fix the config first" (default [2]); no restart. */
  fatalExitCodes?: number[];
  /** Lines each child prints go here (default: this process's stdout/stderr). */
  onOutput?: (name: string, stream: 'stdout' | 'stderr', chunk: Buffer) => void;
}

interface Running {
  spec: ChildSpec;
  child: ChildProcess | undefined;
  restarts: number;
  timer: NodeJS.Timeout | undefined;
  startedAt: number;
}

/** A child that stayed up this long is considered healthy again: its backoff resets. */
const HEALTHY_AFTER_MS = 30_000;

export const STOP_KILL_AFTER_MS = 4000;

export class Supervisor {
  readonly #ctx: SupervisorContext;
  readonly #running = new Map<string, Running>();
  #stopping = false;

  constructor(ctx: SupervisorContext) {
    this.#ctx = ctx;
  }

  start(): void {
    for (const spec of this.#ctx.children) this.add(spec);
  }

  /** Starts one more supervised child (ignored once stopping, or when the name is taken). */
  add(spec: ChildSpec): void {
    if (this.#stopping || this.#running.has(spec.name)) return;
    const r: Running = { spec, child: undefined, restarts: 0, timer: undefined, startedAt: 0 };
    this.#running.set(spec.name, r);
    this.#spawn(r);
  }

  /** pid of a running child, for tests and status. */
  pid(name: string): number | undefined {
    return this.#running.get(name)?.child?.pid;
  }

  restarts(name: string): number {
    return this.#running.get(name)?.restarts ?? 0;
  }

  /**
   * Signals every child and waits for it; a child still running after
   * `killAfterMs` (default 4 s, so `tillbox start` is gone within 5 s of
   * SIGTERM, like systemd's TimeoutStopSec) is sent SIGKILL.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', killAfterMs = STOP_KILL_AFTER_MS): Promise<void> {
    this.#stopping = true;
    const all = [...this.#running.values()];
    for (const r of all) clearTimeout(r.timer);
    const t0 = Date.now();
    await Promise.all(all.filter((r) => !r.spec.stopLast).map((r) => this.#stopChild(r, signal, killAfterMs)));
    // The whole stop stays within one killAfterMs plus a second for the last ones.
    const left = Math.max(1000, killAfterMs - (Date.now() - t0));
    await Promise.all(all.filter((r) => r.spec.stopLast).map((r) => this.#stopChild(r, signal, left)));
  }

  #stopChild(r: Running, signal: NodeJS.Signals, killAfterMs: number): Promise<void> {
    const child = r.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((res) => {
      const kill = setTimeout(() => {
        this.#ctx.log.error({ child: r.spec.name, pid: child.pid, afterMs: killAfterMs }, 'child did not stop in time; SIGKILL');
        child.kill('SIGKILL');
      }, killAfterMs);
      child.once('exit', () => {
        clearTimeout(kill);
        res();
      });
      child.kill(signal);
    });
  }

  #spawn(r: Running): void {
    const { spec } = r;
    const child = spawn(this.#ctx.execPath ?? process.execPath, spec.args, {
      // Children write to a pipe, but a person reads the supervisor's terminal: keep their logs human there.
      env: { ...(isatty(2) && !process.env.TILLBOX_LOG_FORMAT ? { TILLBOX_LOG_FORMAT: 'pretty' } : {}), ...process.env, ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    r.child = child;
    r.startedAt = Date.now();
    const out = this.#ctx.onOutput ?? ((_n, s, c) => (s === 'stdout' ? process.stdout : process.stderr).write(c));
    child.stdout!.on('data', (c: Buffer) => out(spec.name, 'stdout', c));
    child.stderr!.on('data', (c: Buffer) => out(spec.name, 'stderr', c));
    child.once('exit', (code, signal) => {
      if (this.#stopping) return;
      if (code !== null && (this.#ctx.fatalExitCodes ?? [2]).includes(code)) {
        this.#ctx.log.fatal({ child: spec.name, code }, 'child refused to start (configuration); not restarting');
        this.#ctx.onFatal?.(spec.name, code);
        return;
      }
      if (spec.restart === false) {
        this.#ctx.log.warn({ child: spec.name, code, signal }, 'child exited');
        return;
      }
      if (Date.now() - r.startedAt > HEALTHY_AFTER_MS) r.restarts = 0;
      const delay = this.#backoff(r.restarts++);
      this.#ctx.log.error({ child: spec.name, code, signal, restartInMs: delay }, 'child died; restarting');
      r.timer = setTimeout(() => this.#spawn(r), delay);
    });
  }

  /** Exponential backoff with full jitter (a fleet of boxes must not restart in lockstep). */
  #backoff(attempt: number): number {
    const min = this.#ctx.minBackoffMs ?? 200;
    const max = this.#ctx.maxBackoffMs ?? 30_000;
    return backoffDelay(attempt, { baseMs: min, maxMs: max, floorMs: min });
  }
}

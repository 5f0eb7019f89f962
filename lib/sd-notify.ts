import { execFile } from 'node:child_process';

// systemd's service notification protocol (sd_notify(3)) for units with
// Type=notify: READY=1 once serving, WATCHDOG=1 pings while healthy,
// STOPPING=1 on the way out. Node has no AF_UNIX datagram sockets, so each
// message goes through systemd-notify(1); the unit sets NotifyAccess=all
// because the sender is that short-lived child, not the main process. Outside
// systemd (no NOTIFY_SOCKET) every call is a no-op.

export interface SdNotifyContext {
  env?: NodeJS.ProcessEnv;
  /** Asked before each watchdog ping; a false answer skips the ping so systemd restarts a wedged service. */
  healthy?: () => boolean | Promise<boolean>;
  onError?: (err: Error) => void;
}

export class SdNotify {
  readonly #env: NodeJS.ProcessEnv;
  readonly #ctx: SdNotifyContext;
  #timer: NodeJS.Timeout | undefined;

  constructor(ctx: SdNotifyContext = {}) {
    this.#ctx = ctx;
    this.#env = ctx.env ?? process.env;
  }

  get enabled(): boolean {
    return !!this.#env.NOTIFY_SOCKET;
  }

  /** The watchdog interval systemd asks for (WATCHDOG_USEC for this pid), ms; undefined when none. */
  get watchdogMs(): number | undefined {
    const usec = Number(this.#env.WATCHDOG_USEC);
    const pid = this.#env.WATCHDOG_PID;
    if (!Number.isFinite(usec) || usec <= 0 || (pid && Number(pid) !== process.pid)) return undefined;
    return usec / 1000;
  }

  send(...assignments: string[]): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    return new Promise((resolve) => {
      execFile('systemd-notify', [...assignments], { env: this.#env, timeout: 5000 }, (err) => {
        if (err) this.#ctx.onError?.(err);
        resolve();
      });
    });
  }

  /**
   * READY=1 with a status line, then watchdog pings at a third of the
   * interval systemd set. systemd arms the watchdog when the service starts,
   * not when it is ready: the READY message carries the first WATCHDOG=1
   * itself, or a slow start (a loaded Pi, the boot test under emulation) plus
   * half an interval overran it and systemd killed a healthy core. A third
   * leaves room for one late ping (each is a systemd-notify child).
   */
  async ready(status: string): Promise<void> {
    const ms = this.watchdogMs;
    await this.send('--ready', `--status=${status}`, `MAINPID=${process.pid}`, ...(ms !== undefined ? ['WATCHDOG=1'] : []));
    if (ms === undefined || this.#timer) return;
    this.#timer = setInterval(() => void this.#ping(), Math.max(500, ms / 3));
    this.#timer.unref();
  }

  async #ping(): Promise<void> {
    const ok = this.#ctx.healthy ? await Promise.resolve(this.#ctx.healthy()).catch(() => false) : true;
    if (ok) await this.send('WATCHDOG=1');
  }

  async stopping(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.send('STOPPING=1');
  }
}

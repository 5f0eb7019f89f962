import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectAsync } from 'mqtt';
import { localTopics } from '../contract/topics.ts';
import { nodeFlags } from '../appliance/cli/node-flags.ts';
import { benchCore } from './core.ts';
import { compiledCopy } from './compiled.ts';
import { cmdline, cpuSeconds, descendants, pssMB, rssMB } from './proc.ts';
import { percentile } from './stats.ts';
import { CHECKOUT, type BoxCode } from '../harness/box.ts';

// The whole box on a Raspberry Pi budget (issue 14): `tillbox start --demo`
// in a child on free ports and its own state dir, as it ships (compiled
// JavaScript, bench/compiled.ts) and as a checkout runs it (TypeScript).
// - start: spawn to core's /healthz and to the flows editor answering, next
//   to a bare `node -e 0` measured in the same run (ratios, not thresholds),
//   on the first start of a new box and on its restart (the target);
// - idle: after the restarted box settled, resident memory per process (RSS, and PSS,
//   which shares the Node binary's pages among the processes mapping it) and
//   CPU (utime + stime from /proc over the window) per process and in all;
// - core after the sales bench (bench/core.ts) in the compiled form.

type Role = 'supervisor' | 'core' | 'devices' | 'flows' | 'simulators';

export interface ProcessFigures {
  rssMB: number;
  pssMB: number;
  cpuPct: number;
}

export interface BoxForm {
  /** Restart of a box (its state dir and compile caches from a first start): spawn of `tillbox start --demo` to core's /healthz answering 200. */
  coreReadyMs: number;
  /** Restart of a box: spawn of `tillbox start --demo` to the flows editor answering (what a store sees every morning; the target). */
  flowsReadyMs: number;
  /** First start of a new box (fresh state dir, flows' compile cache empty): to core's /healthz. */
  coreFirstReadyMs: number;
  /** First start of a new box: to the flows editor answering. */
  flowsFirstReadyMs: number;
  /** Spawn of `tillbox core --demo` alone to /healthz. */
  coreAloneReadyMs: number;
  processes: Partial<Record<Role, ProcessFigures>>;
  /** Sum over the box's Node processes (supervisor, core, devices, flows); the demo simulators are apart. */
  boxRssMB: number;
  boxPssMB: number;
  /** core + devices + flows: the box as the image runs it (three systemd units, no supervisor). */
  servicesRssMB: number;
  servicesPssMB: number;
  /** Percent of one core, box processes only / with the demo simulators (python pty bridges). */
  boxCpuPct: number;
  boxCpuPctWithSimulators: number;
  idleWindowS: number;
}

export interface BoxBench {
  bareNodeMs: number;
  compiled: BoxForm;
  typescript: BoxForm;
  /** Core (compiled, its V8 flags) after the sales bench: resident MB idle and after. */
  coreRssIdleMB: number;
  coreRssAfterSalesMB: number;
  coreSalesPerSec32: number;
}

const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

/** Median wall time of `node -e 0` (Node's own start, the yardstick of the start ratios). */
export function bareNode(runs = 15): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    spawnSync(process.execPath, ['-e', '0']);
    times.push(performance.now() - t);
  }
  return round(percentile(times, 50));
}

async function answers(url: string): Promise<boolean> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await r.arrayBuffer();
    return r.status < 500;
  } catch {
    return false;
  }
}

export function spawnTillbox(code: BoxCode, command: string, stateDir: string): { child: ChildProcess; output: () => string; exited: Promise<unknown> } {
  const main = join(code.root, `appliance/cli/main${code.ext}`);
  const child = spawn(process.execPath, [...nodeFlags(command, join(code.root, 'bin/node-flags')), main, command, '--demo'], {
    cwd: code.root,
    env: {
      ...process.env,
      TILLBOX_STATE_DIR: stateDir,
      TILLBOX_HTTP_PORT: '0',
      TILLBOX_MQTT_PORT: '0',
      TILLBOX_MQTT_WS_PORT: '0',
      TILLBOX_FLOWS_PORT: '0',
      TILLBOX_LOG_LEVEL: 'warn',
      TILLBOX_LOG_FORMAT: 'json',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise((r) => child.once('exit', r));
  return { child, output: () => out, exited };
}

/** Waits until `pattern` shows in the output and its URL answers; ms since t0. */
export async function readyAt(p: ReturnType<typeof spawnTillbox>, pattern: RegExp, path: string, t0: number): Promise<number> {
  for (;;) {
    const m = pattern.exec(p.output());
    if (m && (await answers(`${m[1]}${path}`))) return performance.now() - t0;
    if (p.child.exitCode !== null) throw new Error(`tillbox exited with ${p.child.exitCode}:\n${p.output()}`);
    if (performance.now() - t0 > 60_000) throw new Error(`not ready in 60 s:\n${p.output()}`);
    await sleep(5);
  }
}

export const CORE_URL = /HTTP API\s+(http:\/\/[^\s]+)/;
export const EDITOR_URL = /Node-RED editor (https?:\/\/[^\s]+?)\/?\s/;

export function roleOf(pid: number): Role {
  const args = cmdline(pid);
  const i = args.findIndex((a) => /appliance\/cli\/main\.(ts|js)$/.test(a));
  const command = i >= 0 ? args[i + 1] : undefined;
  if (command === 'start') return 'supervisor';
  if (command === 'core' || command === 'devices' || command === 'flows') return command;
  return 'simulators';
}

/**
 * Takes the demo's 0.482 kg off the simulated scale: an idle store's scale is
 * empty, and the driver polls a loaded one five times a second by design (a
 * weight sold must be fresh), an empty one twice (drivers/scale/scale.ts).
 */
async function emptyDemoScale(stateDir: string): Promise<void> {
  const secrets = JSON.parse(readFileSync(join(stateDir, 'secrets.json'), 'utf8')) as { mqtt: Array<{ role: string; username: string; password: string }> };
  const runtime = JSON.parse(readFileSync(join(stateDir, 'runtime.json'), 'utf8')) as { storeId: string; mqtt: { tcp: { host: string; port: number } } };
  const admin = secrets.mqtt.find((a) => a.role === 'admin')!;
  const client = await connectAsync(`mqtt://${runtime.mqtt.tcp.host}:${runtime.mqtt.tcp.port}`, {
    clientId: `${admin.username}-bench`,
    username: admin.username,
    password: admin.password,
    reconnectPeriod: 0,
  });
  try {
    await client.publishAsync(localTopics.deviceCommand(runtime.storeId, 'scale-1', 'simulate'), JSON.stringify({ correlation: 'bench-idle', args: { grams: 0 } }), { qos: 1 });
  } finally {
    await client.endAsync();
  }
}

export async function stop(p: ReturnType<typeof spawnTillbox>): Promise<void> {
  if (p.child.exitCode === null) p.child.kill('SIGTERM');
  await p.exited;
}

export async function benchBoxForm(code: BoxCode, opts: { settleS?: number; idleS?: number } = {}): Promise<BoxForm> {
  const idleS = opts.idleS ?? 60;
  // Core alone first (a cold compile cache would otherwise favour the second start).
  const aloneDir = mkdtempSync(join(tmpdir(), 'tillbox-bench-box-'));
  let coreAloneReadyMs: number;
  try {
    const warm = spawnTillbox(code, 'core', aloneDir);
    await readyAt(warm, CORE_URL, '/healthz', performance.now());
    await stop(warm);
    const t0 = performance.now();
    const core = spawnTillbox(code, 'core', aloneDir);
    coreAloneReadyMs = await readyAt(core, CORE_URL, '/healthz', t0);
    await stop(core);
  } finally {
    rmSync(aloneDir, { recursive: true, force: true });
  }

  // The box twice in one state dir: its first start (secrets generated, flows'
  // compile cache, which lives in the state dir, empty), then the restart a
  // store sees every morning, which the start target and the idle figures are
  // taken on.
  const dir = mkdtempSync(join(tmpdir(), 'tillbox-bench-box-'));
  let coreFirstReadyMs: number;
  let flowsFirstReadyMs: number;
  try {
    const t1 = performance.now();
    const first = spawnTillbox(code, 'start', dir);
    try {
      [coreFirstReadyMs, flowsFirstReadyMs] = await Promise.all([readyAt(first, CORE_URL, '/healthz', t1), readyAt(first, EDITOR_URL, '/', t1)]);
    } finally {
      await stop(first);
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const t0 = performance.now();
  const box = spawnTillbox(code, 'start', dir);
  try {
    const [coreReadyMs, flowsReadyMs] = await Promise.all([readyAt(box, CORE_URL, '/healthz', t0), readyAt(box, EDITOR_URL, '/', t0)]);
    await emptyDemoScale(dir);
    await sleep((opts.settleS ?? 10) * 1000);
    const pids = [box.child.pid!, ...descendants(box.child.pid!)];
    const cpu0 = pids.map(cpuSeconds);
    const w0 = performance.now();
    await sleep(idleS * 1000);
    const wall = (performance.now() - w0) / 1000;
    const processes: Partial<Record<Role, ProcessFigures>> = {};
    for (const [i, pid] of pids.entries()) {
      const role = roleOf(pid);
      const p = (processes[role] ??= { rssMB: 0, pssMB: 0, cpuPct: 0 });
      p.rssMB = round(p.rssMB + rssMB(pid));
      p.pssMB = round(p.pssMB + pssMB(pid));
      p.cpuPct = round(p.cpuPct + ((cpuSeconds(pid) - cpu0[i]!) / wall) * 100, 2);
    }
    const boxRoles = Object.entries(processes).filter(([r]) => r !== 'simulators');
    const services = boxRoles.filter(([r]) => r !== 'supervisor');
    const sum = (k: keyof ProcessFigures, list = boxRoles) =>
      round(
        list.reduce((s, [, p]) => s + p[k], 0),
        2,
      );
    return {
      coreReadyMs: Math.round(coreReadyMs),
      flowsReadyMs: Math.round(flowsReadyMs),
      coreFirstReadyMs: Math.round(coreFirstReadyMs),
      flowsFirstReadyMs: Math.round(flowsFirstReadyMs),
      coreAloneReadyMs: Math.round(coreAloneReadyMs),
      processes,
      boxRssMB: round(sum('rssMB')),
      boxPssMB: round(sum('pssMB')),
      servicesRssMB: round(sum('rssMB', services)),
      servicesPssMB: round(sum('pssMB', services)),
      boxCpuPct: sum('cpuPct'),
      boxCpuPctWithSimulators: sum('cpuPct', Object.entries(processes)),
      idleWindowS: idleS,
    };
  } finally {
    await stop(box);
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchBox(opts: { idleS?: number; log?: (m: string) => void } = {}): Promise<BoxBench> {
  const log = opts.log ?? (() => {});
  const bareNodeMs = bareNode();
  const built = compiledCopy();
  try {
    log('compiled JavaScript (as shipped)');
    const compiled = await benchBoxForm(built, opts);
    log('TypeScript checkout');
    const typescript = await benchBoxForm(CHECKOUT, opts);
    log('core (compiled) after the sales bench');
    const c = await benchCore({ code: built });
    return { bareNodeMs, compiled, typescript, coreRssIdleMB: c.rssIdleMB, coreRssAfterSalesMB: c.rssAfterMB, coreSalesPerSec32: c.salesPerSec32 };
  } finally {
    built.remove();
  }
}

if (import.meta.main) console.log(JSON.stringify(await benchBox({ log: (m) => console.error(`  ${m}`), idleS: Number(process.env.BENCH_IDLE_S ?? 60) }), null, 2));

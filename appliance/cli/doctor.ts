import { accessSync, constants, existsSync, readFileSync, statSync, statfsSync, writeFileSync, rmSync } from 'node:fs';
import { IdentityStore } from '../../provisioning/identity-store.ts';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { connectAsync } from 'mqtt';
import { loadConfig, type Config } from '../config/index.ts';
import { isTillboxError } from '../../contract/errors.ts';
import { resolveStateDir, statePaths } from '../state/state-dir.ts';
import { readSecrets, type Secrets } from '../secrets/secrets.ts';
import { isAlive, readRuntime, type RuntimeInfo } from '../core/runtime.ts';
import { verifyJournal } from '../journal/verify.ts';
import { parseHlc } from '../journal/hlc.ts';
import type { BoxStatus } from '../core/status-route.ts';

// `tillbox doctor`: one line per check, non-zero exit when any check fails.
// Works on a stopped box (offline journal scan, ports free) and on a running
// one (asks it over HTTP and MQTT, since LevelDB allows a single opener).

export interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
}

export interface DoctorOptions {
  config?: string;
  demo?: boolean;
  stateDir?: string;
  json?: boolean;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
}

/** Before this the clock was never set (a Pi without RTC boots in 1970 or at the image date). */
const EARLIEST_SANE_CLOCK = Date.parse('2025-01-01T00:00:00Z');
/** The wall clock may lag the journal's HLC by this much before doctor calls it wrong. */
const CLOCK_SKEW_TOLERANCE_MS = 60_000;

export async function doctor(opts: DoctorOptions): Promise<Check[]> {
  const env = opts.env ?? process.env;
  const now = opts.now ?? Date.now;
  const checks: Check[] = [];
  const add = (name: string, status: Check['status'], detail: string) => checks.push({ name, status, detail });

  let config: Config | undefined;
  try {
    config = loadConfig({ file: opts.config, env, overrides: opts.demo ? { demo: true } : {} });
    add('config', 'ok', opts.config ? `${opts.config} is valid` : 'defaults and environment are valid');
  } catch (err) {
    add('config', 'fail', isTillboxError(err) ? err.message : String(err));
  }

  const stateDir = resolveStateDir(env, opts.stateDir);
  const paths = statePaths(stateDir);
  add(...checkStateDir(stateDir));

  let secrets: Secrets | undefined;
  if (!existsSync(paths.secrets)) add('secrets', 'warn', `not generated yet (${paths.secrets}); the first start creates them`);
  else {
    try {
      secrets = readSecrets(paths.secrets);
      const mode = statSync(paths.secrets).mode & 0o777;
      if (mode & 0o077) add('secrets', 'fail', `${paths.secrets} is mode ${mode.toString(8)}, must be 600`);
      else add('secrets', 'ok', `${secrets.mqtt.length} MQTT accounts, ${secrets.api.length} API tokens, mode 600`);
    } catch (err) {
      add('secrets', 'fail', (err as Error).message);
    }
  }

  const runtime = readRuntime(paths.runtime);
  const running = runtime !== undefined && isAlive(runtime.pid);
  let lastHlc: string | undefined;
  if (running) {
    add('box', 'ok', `running, pid ${runtime.pid}, since ${runtime.startedAt}`);
    checks.push(await checkHttp(runtime));
    checks.push(await checkBroker(runtime, secrets));
    const journal = await journalFromBox(runtime, secrets);
    checks.push(journal.check);
    if (journal.selling) checks.push(journal.selling);
    lastHlc = journal.lastHlc;
  } else {
    add('box', 'warn', 'not running' + (runtime ? ` (stale runtime file from pid ${runtime.pid})` : ''));
    if (config) checks.push(...(await checkPortsFree(config)));
    const result = await verifyJournal({ dir: paths.journal });
    if (result.state === 'missing') add('journal', 'warn', `${result.message} (created at first start)`);
    else if (result.state === 'ok') add('journal', 'ok', result.message);
    else add('journal', 'fail', result.message + describeReport(result.report));
    lastHlc = result.report?.lastHlc;
  }

  checks.push(checkClock(now(), lastHlc));
  if (config) checks.push(await checkIdentity(stateDir, paths.deviceId, config, now()));
  checks.push(...checkNativeAddons());
  if (config) checks.push(checkDisk(existsSync(stateDir) ? stateDir : '.', config.doctor.minFreeDiskMB, config.storage.minFreeMB));
  return checks;
}

/** The box's certificate (provisioning/): a problem here stops sync, never sales. */
async function checkIdentity(stateDir: string, deviceIdFile: string, config: Config, nowMs: number): Promise<Check> {
  const store = new IdentityStore({ stateDir });
  const deviceId = config.device.id ?? (existsSync(deviceIdFile) ? readFileSync(deviceIdFile, 'utf8').trim() : '(not yet generated)');
  const s = await store.status(deviceId, nowMs);
  const mode = store.mode();
  if (mode !== undefined && mode & 0o077) return { name: 'identity', status: 'fail', detail: `${store.identityFile} is mode ${mode.toString(8)}, must be 600` };
  switch (s.state) {
    case 'enrolled':
      return { name: 'identity', status: 'ok', detail: `${s.subject}, ${s.daysLeft} days left (renewed by itself at 2/3 of its lifetime)` };
    case 'expiring':
      return { name: 'identity', status: 'warn', detail: `${s.subject} expires ${s.notAfter} and is not renewed yet: is HQ's EST server (${s.estUrl ?? '?'}) reachable?` };
    case 'expired':
      return { name: 'identity', status: 'fail', detail: `the certificate expired ${s.notAfter}: sync is off, selling continues; enrol again (tillbox enroll --token ...)` };
    case 'revoked':
      return { name: 'identity', status: 'fail', detail: 'HQ revoked this box: sync is off, selling continues; enrol again under a new device id' };
    case 'pending':
      return { name: 'identity', status: 'warn', detail: `waiting for approval at HQ: pairing code ${s.pairingCode}` };
    default:
      return config.cloud.url?.startsWith('mqtts://') && !config.cloud.certFile
        ? { name: 'identity', status: 'warn', detail: 'not enrolled: the cloud link has no client certificate (tillbox enroll --url ... --token ... --ca-fingerprint ...)' }
        : { name: 'identity', status: 'ok', detail: 'not enrolled (no certificate needed by this config)' };
  }
}

function describeReport(report: { quarantined: Array<{ seq: number | null; reason: string }>; gaps: number[]; hlcRegressions: number[] } | null): string {
  if (!report) return '';
  const parts: string[] = [];
  for (const q of report.quarantined.slice(0, 5)) parts.push(`corrupt record seq ${q.seq ?? '?'}: ${q.reason}`);
  if (report.gaps.length) parts.push(`missing seq: ${report.gaps.slice(0, 10).join(', ')}${report.gaps.length > 10 ? ', ...' : ''}`);
  if (report.hlcRegressions.length) parts.push(`HLC goes back at seq ${report.hlcRegressions.slice(0, 10).join(', ')}`);
  return parts.length ? '\n      ' + parts.join('\n      ') : '';
}

function checkStateDir(dir: string): [string, Check['status'], string] {
  if (!existsSync(dir)) return ['state dir', 'warn', `${dir} does not exist yet; the first start creates it`];
  const st = statSync(dir);
  if (!st.isDirectory()) return ['state dir', 'fail', `${dir} is not a directory`];
  try {
    accessSync(dir, constants.W_OK);
    const probe = `${dir}/.doctor-probe-${process.pid}`;
    writeFileSync(probe, 'x');
    rmSync(probe);
  } catch (err) {
    return ['state dir', 'fail', `${dir} is not writable: ${(err as Error).message}`];
  }
  const mode = st.mode & 0o777;
  if (mode & 0o077) return ['state dir', 'fail', `${dir} is mode ${mode.toString(8)}; it holds secrets and must be 700`];
  return ['state dir', 'ok', `${dir} (mode 700, writable)`];
}

async function portFree(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(undefined)));
  });
}

async function checkPortsFree(config: Config): Promise<Check[]> {
  const wanted: Array<[string, string, number]> = [
    ['HTTP', config.http.host, config.http.port],
    ['MQTT', config.mqtt.host, config.mqtt.port],
  ];
  if (config.mqtt.ws.enabled) wanted.push(['MQTT/WS', config.mqtt.ws.host, config.mqtt.ws.port]);
  if (config.mqtt.tls.enabled) wanted.push(['MQTT/TLS', config.mqtt.tls.host, config.mqtt.tls.port]);
  const out: Check[] = [];
  for (const [name, host, port] of wanted) {
    if (port === 0) continue;
    const err = await portFree(host, port);
    out.push({
      name: `port ${name}`,
      status: err ? 'fail' : 'ok',
      detail: err ? `${host}:${port} is taken (${err}): another program or another box uses it` : `${host}:${port} is free`,
    });
  }
  return out;
}

async function checkHttp(rt: RuntimeInfo): Promise<Check> {
  const url = `http://${rt.http.host}:${rt.http.port}/healthz`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    return res.ok ? { name: 'http', status: 'ok', detail: `${url} answers ${res.status}` } : { name: 'http', status: 'fail', detail: `${url} answers ${res.status}` };
  } catch (err) {
    return { name: 'http', status: 'fail', detail: `${url} unreachable: ${(err as Error).message}` };
  }
}

async function checkBroker(rt: RuntimeInfo, secrets: Secrets | undefined): Promise<Check> {
  const tcp = rt.mqtt.tcp;
  if (!tcp) return { name: 'broker', status: 'fail', detail: 'no TCP listener in runtime info' };
  const admin = secrets?.mqtt.find((a) => a.role === 'admin');
  const url = `mqtt://${tcp.host}:${tcp.port}`;
  try {
    const client = await connectAsync(url, {
      clientId: `${admin?.username ?? 'doctor'}-doctor-${process.pid}`,
      username: admin?.username,
      password: admin?.password,
      reconnectPeriod: 0,
      connectTimeout: 3000,
    });
    await client.endAsync();
    return { name: 'broker', status: 'ok', detail: `${url} accepts the admin account` };
  } catch (err) {
    return { name: 'broker', status: 'fail', detail: `${url}: ${(err as Error).message}` };
  }
}

async function journalFromBox(rt: RuntimeInfo, secrets: Secrets | undefined): Promise<{ check: Check; lastHlc?: string; selling?: Check }> {
  const manager = secrets?.api.find((t) => t.role === 'manager');
  const url = `http://${rt.http.host}:${rt.http.port}/api/v1/status`;
  try {
    const res = await fetch(url, { headers: manager ? { authorization: `Bearer ${manager.token}` } : {}, signal: AbortSignal.timeout(5000) });
    if (!res.ok) return { check: { name: 'journal', status: 'fail', detail: `${url} answers ${res.status}` } };
    const body = (await res.json()) as BoxStatus;
    const j = body.journal;
    const selling = sellingCheck(body.health);
    if (!j.integrity) return { check: { name: 'journal', status: 'warn', detail: `lastSeq ${j.lastSeq}; integrity scan still running, ask again shortly` }, lastHlc: j.lastHlc, selling };
    const check: Check = j.integrity.ok
      ? { name: 'journal', status: 'ok', detail: `lastSeq ${j.lastSeq}, integrity ok (checked at start)` }
      : {
          name: 'journal',
          status: 'fail',
          detail: `lastSeq ${j.lastSeq}: ${j.integrity.quarantined.length} corrupt quarantined, ${j.integrity.gaps.length} missing seq, ${j.integrity.hlcRegressions.length} HLC regressions`,
        };
    return { check, lastHlc: j.lastHlc, selling };
  } catch (err) {
    return { check: { name: 'journal', status: 'fail', detail: `${url}: ${(err as Error).message}` } };
  }
}

/** Whether the running box takes sales now, and why not (disk full, a store reopening). */
function sellingCheck(health: BoxStatus['health'] | undefined): Check | undefined {
  if (!health) return undefined;
  if (!health.selling) return { name: 'selling', status: 'fail', detail: `sales are refused: ${health.reasons.map((r) => r.message).join('; ')}` };
  if (health.warnings.length > 0) return { name: 'selling', status: 'warn', detail: `selling, but: ${health.warnings.map((w) => w.message).join('; ')}` };
  return { name: 'selling', status: 'ok', detail: `selling; ${health.storage.freeMB} MB free, sales stop below ${health.storage.minFreeMB} MB` };
}

export function checkClock(nowMs: number, lastHlc: string | undefined): Check {
  const iso = new Date(nowMs).toISOString();
  if (nowMs < EARLIEST_SANE_CLOCK) return { name: 'clock', status: 'fail', detail: `system clock says ${iso}: it was never set (enable NTP or set the time)` };
  const hlc = lastHlc ? parseHlc(lastHlc) : undefined;
  if (hlc && nowMs < hlc.wallMs - CLOCK_SKEW_TOLERANCE_MS) {
    const behind = Math.round((hlc.wallMs - nowMs) / 1000);
    return { name: 'clock', status: 'fail', detail: `system clock ${iso} is ${behind} s behind the journal's last event; the journal keeps order, but fix the time (NTP)` };
  }
  return { name: 'clock', status: 'ok', detail: `${iso}${hlc ? ', not behind the journal' : ''}` };
}

const requireAddon = createRequire(import.meta.url);

/**
 * Peripheral addons must load in this Node (24). Missing libusb is the usual
 * cause on a fresh Debian; GPIO missing is only a warning (optional hardware).
 */
export function checkNativeAddons(): Check[] {
  const addons: Array<[string, string, Check['status']]> = [
    ['@serialport/bindings-cpp', 'serial scales and scanners', 'fail'],
    ['usb', 'USB printers (needs Debian package libusb-1.0-0)', 'fail'],
    ['node-hid', 'HID scanners (needs Debian package libusb-1.0-0)', 'fail'],
    ['epoll', 'GPIO (built for Node 24 by scripts/postinstall.mjs at npm ci)', 'warn'],
  ];
  return addons.map(([name, what, severity]) => {
    try {
      requireAddon(name);
      return { name: `addon ${name}`, status: 'ok' as const, detail: `loads on Node ${process.versions.node}` };
    } catch (err) {
      return { name: `addon ${name}`, status: severity, detail: `${what}: ${(err as Error).message.split('\n')[0]}` };
    }
  });
}

export function checkDisk(dir: string, minFreeMB: number, refuseBelowMB = 0): Check {
  const st = statfsSync(dir);
  const freeMB = Math.floor((st.bavail * st.bsize) / 1048576);
  const totalMB = (st.blocks * st.bsize) / 1048576;
  const pct = st.blocks > 0 ? Math.round((st.bavail / st.blocks) * 100) : 0;
  const detail = `${freeMB} MB free (${pct} %) on the state dir's filesystem`;
  // The same cap as the storage guard's: at most 10 % of the filesystem.
  const refuse = Math.min(refuseBelowMB, totalMB * 0.1);
  if (freeMB < refuse) return { name: 'disk', status: 'fail', detail: `${detail}; the box refuses sales below ${Math.round(refuse)} MB: free space` };
  return freeMB < minFreeMB ? { name: 'disk', status: 'fail', detail: `${detail}; at least ${minFreeMB} MB needed` } : { name: 'disk', status: 'ok', detail };
}

export async function runDoctor(opts: DoctorOptions): Promise<number> {
  const checks = await doctor(opts);
  const failed = checks.filter((c) => c.status === 'fail');
  if (opts.json) console.log(JSON.stringify({ ok: failed.length === 0, checks }, null, 2));
  else {
    const mark = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' } as const;
    for (const c of checks) console.log(`${mark[c.status]}  ${c.name.padEnd(14)} ${c.detail}`);
    console.log(failed.length ? `\n${failed.length} problem${failed.length > 1 ? 's' : ''} found.` : '\nall checks passed.');
  }
  return failed.length ? 1 : 0;
}

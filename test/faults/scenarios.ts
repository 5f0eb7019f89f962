import { readdirSync, readFileSync, statSync, writeFileSync, openSync, closeSync, ftruncateSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { call, managerAuth, startBox, type BoxProcess } from '../../harness/box.ts';
import { verifyJournal } from '../../appliance/journal/verify.ts';
import { FaultFs } from './faultfs.ts';
import { Tills, waitHealthy } from './tills.ts';

// The storage fault campaign (issue 8 §2). Each scenario runs a real core
// (`tillbox core --demo` in a child process) with its state dir on a real
// filesystem — the LazyFS-style FUSE layer for power cuts and injected I/O
// errors — sells from several tills while the fault happens, restarts, and
// judges the outcome with one checker (tills.ts). The vitest file runs each
// scenario a few times; `npm run faults` runs the whole campaign and prints
// the table.

export interface ScenarioResult {
  scenario: string;
  runs: number;
  acknowledged: number;
  lost: number;
  duplicated: number;
  changed: number;
  seqGaps: number;
  hlcRegressions: number;
  /** PUBACKed QoS 1 messages to an offline persistent subscriber that never arrived. */
  brokerLost: number;
  brokerAcked: number;
  /** Longest time from restart (or from the fault ending) to selling again. */
  recoverSecondsMax: number;
  /** Anything else the scenario checks (corruption detected, journal opened clean). */
  notes: string[];
  violations: string[];
}

export interface ScenarioOptions {
  runs: number;
  tills?: number;
  log?: (line: string) => void;
  /** Extra TILLBOX_* variables for the box (e.g. a weaker fsync policy, to prove the harness catches it). */
  env?: Record<string, string>;
}

const sec = (ms: number): number => Math.round(ms / 100) / 10;

function mqttPort(box: BoxProcess): number {
  const m = /MQTT\s+mqtt:\/\/[^:]+:(\d+)/.exec(box.output());
  if (!m) throw new Error('no MQTT port in the banner');
  return Number(m[1]);
}

function adminAccount(stateDir: string): { username: string; password: string } {
  const s = JSON.parse(readFileSync(join(stateDir, 'secrets.json'), 'utf8')) as { mqtt: Array<{ role: string; username: string; password: string }> };
  const a = s.mqtt.find((x) => x.role === 'admin')!;
  return { username: a.username, password: a.password };
}

/**
 * QoS 1 messages from an admin client to an offline persistent subscriber:
 * every message the broker PUBACKed must reach the subscriber when it comes
 * back, across the faults (at least once; duplicates are allowed by QoS 1).
 */
class QosProbe {
  readonly acked = new Set<number>();
  readonly received = new Set<number>();
  /** The power-cut run each acked message was published in, for the notes. */
  readonly #runOf = new Map<number, number>();
  #run = 0;
  #n = 0;
  #topic = 'store/demo-store/flows/probe';

  async subscribeOnce(box: BoxProcess, stateDir: string): Promise<void> {
    const a = adminAccount(stateDir);
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort(box)}`, { ...a, clientId: `${a.username}-probe-sub`, clean: false, reconnectPeriod: 0 });
    // The publisher starts at once: until the broker has handled this
    // session's DISCONNECT, it delivers to it live, and mqtt.js acknowledges
    // while it ends. Those messages reached the subscriber (a CI run counted
    // the first 11 as lost when this handler was missing).
    c.on('message', (_t, p) => this.received.add(Number(p.toString())));
    await c.subscribeAsync(`${this.#topic}/#`, { qos: 1 });
    await c.endAsync();
  }

  /** Publishes until stop(), recording PUBACKs. Errors (the box dies) end it. */
  async publish(box: BoxProcess, stateDir: string, stop: () => boolean): Promise<void> {
    const a = adminAccount(stateDir);
    let c: mqtt.MqttClient;
    try {
      c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort(box)}`, { ...a, clientId: `${a.username}-probe-pub`, clean: true, reconnectPeriod: 0, connectTimeout: 5000 });
    } catch {
      return;
    }
    c.on('error', () => undefined);
    while (!stop() && c.connected) {
      const n = this.#n++;
      const done = new Promise<void>((r) =>
        c.publish(`${this.#topic}/${n % 4}`, String(n), { qos: 1 }, (err) => {
          if (!err) {
            this.acked.add(n);
            this.#runOf.set(n, this.#run);
          }
          r();
        }),
      );
      await Promise.race([done, sleep(2000)]);
    }
    c.end(true);
    this.#run++;
  }

  /** Where the lost messages sat: their run and how many later acks that run had (0 = the last PUBACK before the cut). */
  describeLost(): string {
    const lost = [...this.acked].filter((n) => !this.received.has(n)).slice(0, 5);
    return lost
      .map((n) => {
        const run = this.#runOf.get(n);
        const later = [...this.acked].filter((m) => m > n && this.#runOf.get(m) === run).length;
        return `#${n} (run ${run}, ${later} later acks in that run)`;
      })
      .join(', ');
  }

  /** Reconnects the persistent subscriber and collects until every acked message arrived (or timeout). */
  async drain(box: BoxProcess, stateDir: string, ms = 15_000): Promise<number> {
    const a = adminAccount(stateDir);
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort(box)}`, { ...a, clientId: `${a.username}-probe-sub`, clean: false, reconnectPeriod: 0 });
    c.on('message', (_t, p) => this.received.add(Number(p.toString())));
    const t0 = Date.now();
    while (Date.now() - t0 < ms && [...this.acked].some((n) => !this.received.has(n))) await sleep(50);
    await c.endAsync();
    return [...this.acked].filter((n) => !this.received.has(n)).length;
  }
}

/** Lines where the box reported damaged files or a repair: notes for a reader of a failed run. */
function repairNotes(box: BoxProcess, run: string): string[] {
  return box
    .output()
    .split('\n')
    .filter((l) => /damaged|repair|corrupt/i.test(l))
    .slice(0, 3)
    .map((l) => `${run}: ${l.slice(0, 300)}`);
}

function result(scenario: string, runs: number): ScenarioResult {
  return { scenario, runs, acknowledged: 0, lost: 0, duplicated: 0, changed: 0, seqGaps: 0, hlcRegressions: 0, brokerLost: 0, brokerAcked: 0, recoverSecondsMax: 0, notes: [], violations: [] };
}

/** Final restart: retry the unknown sales, judge the journal through the API, then check it offline. */
async function judge(res: ScenarioResult, tills: Tills, stateDir: string, env: Record<string, string>, probe?: QosProbe): Promise<void> {
  const box = await startBox(stateDir, env);
  try {
    await waitHealthy(box.port);
    await tills.settle(box.port);
    const v = await tills.verdict(box);
    res.acknowledged = v.acknowledged;
    res.lost = v.lost.length;
    res.duplicated = v.duplicated.length;
    res.changed = v.changed.length;
    res.seqGaps = v.seqGaps;
    res.hlcRegressions = v.hlcRegressions;
    if (v.lost.length) res.violations.push(`lost acknowledged sales: ${v.lost.slice(0, 5).join(', ')}`);
    if (v.duplicated.length) res.violations.push(`duplicated sales: ${v.duplicated.slice(0, 5).join(', ')}`);
    if (v.changed.length) res.violations.push(`sales with another id/seq than acknowledged: ${v.changed.slice(0, 5).join(', ')}`);
    if (v.seqGaps) res.violations.push(`${v.seqGaps} seq gaps`);
    if (v.hlcRegressions) res.violations.push(`${v.hlcRegressions} HLC regressions`);
    if (probe) {
      res.brokerAcked = probe.acked.size;
      res.brokerLost = await probe.drain(box, stateDir);
      if (res.brokerLost) res.violations.push(`${res.brokerLost} PUBACKed QoS 1 messages never delivered: ${probe.describeLost()}`);
    }
  } finally {
    await box.stop();
    res.notes.push(...repairNotes(box, 'final start'));
  }
  const offline = await verifyJournal({ dir: join(stateDir, 'journal') });
  if (offline.state !== 'ok') res.violations.push(`journal does not verify clean: ${offline.message}`);
}

/**
 * The probe's subscriber stays away the whole scenario: lift the offline queue
 * bound (mqtt.limits.offlineQueueMax drops the oldest by design, and is enforced
 * at every open) so every PUBACKed message must survive.
 */
const PROBE_ENV = { TILLBOX_MQTT_LIMITS_OFFLINE_QUEUE_MAX: '1000000', TILLBOX_MQTT_LIMITS_OFFLINE_QUEUE_MAX_BYTES: '1000000000' };

/** Power cut at a random moment during concurrent sales: kill -9 and drop every unsynced write. */
export async function powerCut(opts: ScenarioOptions): Promise<ScenarioResult> {
  const res = result('power cut during sales', opts.runs);
  const env = { ...PROBE_ENV, ...opts.env };
  opts = { ...opts, env };
  const fs = new FaultFs();
  await fs.mount();
  const stateDir = join(fs.mountpoint, 'state');
  const tills = new Tills('pc');
  const probe = new QosProbe();
  try {
    for (let run = 0; run < opts.runs; run++) {
      const t0 = Date.now();
      const box = await startBox(stateDir, opts.env);
      await waitHealthy(box.port);
      if (run > 0) res.recoverSecondsMax = Math.max(res.recoverSecondsMax, sec(Date.now() - t0));
      if (run === 0) await probe.subscribeOnce(box, stateDir);
      await tills.settle(box.port);
      let stop = false;
      const work = Promise.all([tills.run(box.port, opts.tills ?? 8, () => stop, 5000), probe.publish(box, stateDir, () => stop)]);
      await sleep(300 + Math.floor(Math.random() * 1200));
      await box.kill();
      stop = true;
      await work;
      res.notes.push(...repairNotes(box, `run ${run + 1}`));
      const dropped = await fs.control('drop');
      await fs.powerCut();
      opts.log?.(`  power cut ${run + 1}/${opts.runs}: ${tills.acked.size} acked so far, ${dropped}`);
    }
    await judge(res, tills, stateDir, opts.env ?? {}, probe);
  } finally {
    await fs.destroy();
  }
  return res;
}

/** The Nth write or fsync fails with EIO or ENOSPC while tills sell; then a power cut. */
export async function ioErrors(opts: ScenarioOptions): Promise<ScenarioResult> {
  const res = result('EIO/ENOSPC on the Nth write or fsync', opts.runs);
  const fs = new FaultFs();
  await fs.mount();
  const stateDir = join(fs.mountpoint, 'state');
  const tills = new Tills('io');
  const probe = new QosProbe();
  const faults = ['fail write', 'fail fsync'];
  const errnos = ['EIO', 'ENOSPC'];
  try {
    for (let run = 0; run < opts.runs; run++) {
      const box = await startBox(stateDir, PROBE_ENV);
      await waitHealthy(box.port);
      if (run === 0) await probe.subscribeOnce(box, stateDir);
      await tills.settle(box.port);
      let stop = false;
      const work = Promise.all([tills.run(box.port, opts.tills ?? 6, () => stop, 5000), probe.publish(box, stateDir, () => stop)]);
      // Two faults per run at random points, then selling must come back by itself.
      for (let f = 0; f < 2; f++) {
        await sleep(200 + Math.floor(Math.random() * 400));
        const fault = `${faults[(run + f) % 2]} ${1 + Math.floor(Math.random() * 20)} ${errnos[(run + f + Math.floor(run / 2)) % 2]}`;
        await fs.control(fault);
        opts.log?.(`  run ${run + 1}: injected "${fault}"`);
      }
      await sleep(500);
      const before = tills.acked.size;
      const t0 = Date.now();
      while (tills.acked.size === before) {
        if (Date.now() - t0 > 30_000) {
          res.violations.push(`run ${run + 1}: selling did not resume by itself within 30 s after the I/O errors`);
          break;
        }
        await sleep(50);
      }
      res.recoverSecondsMax = Math.max(res.recoverSecondsMax, sec(Date.now() - t0));
      stop = true;
      await work;
      const status = (await call(box.port, 'GET', '/api/v1/status', undefined, managerAuth(stateDir))).json();
      res.notes.push(
        `run ${run + 1}: journal failed batches ${status.health.journal.failedBatches}, reopens ${status.health.journal.reopens}; broker ${status.health.broker.failedBatches}/${status.health.broker.reopens}`,
      );
      await box.kill();
      await fs.powerCut();
    }
    const stats = res.notes.join('; ');
    if (!/failed batches [1-9]/.test(stats) && !/broker [1-9]/.test(stats)) res.notes.push('no store saw an injected error (faults hit other files only)');
    await judge(res, tills, stateDir, PROBE_ENV, probe);
  } finally {
    await fs.destroy();
  }
  return res;
}

/**
 * Torn tail and bit flips on a stopped box: the newest LevelDB log loses its
 * last bytes, and one byte flips in the middle of the log and of a table
 * file. What is damaged may be lost (it is bit rot, not a crash), but it is
 * detected, reported by doctor's journal scan and never served; the box
 * starts, sells, and everything undamaged is kept.
 */
export async function tornAndFlipped(opts: ScenarioOptions): Promise<ScenarioResult> {
  const res = result('torn log tail and bit flips', opts.runs);
  const fs = new FaultFs();
  await fs.mount();
  const stateDir = join(fs.mountpoint, 'state');
  try {
    for (let run = 0; run < opts.runs; run++) {
      const tills = new Tills(`tf${run}`);
      const dir = join(stateDir, `run-${run}`);
      // Two selling phases with a restart between: the restart turns the first
      // phase's log into a table file, so there is an older file to flip bits in.
      let box = await startBox(dir, { TILLBOX_STORAGE_RESERVE_MB: '0' });
      for (let phase = 0; phase < 2; phase++) {
        if (phase === 1) box = await startBox(dir, { TILLBOX_STORAGE_RESERVE_MB: '0' });
        let stop = false;
        const selling = tills.run(box.port, 4, () => stop);
        await sleep(800);
        stop = true;
        await selling;
        await box.stop();
      }
      const journalDir = join(dir, 'journal');
      const damage = `journal: ${damageLevel(journalDir, run)}; broker store: ${damageLevel(join(dir, 'broker'), run + 1)}`;
      res.notes.push(`run ${run + 1}: ${damage}`);
      box = await startBox(dir, { TILLBOX_STORAGE_RESERVE_MB: '0' });
      try {
        await waitHealthy(box.port);
        const v = await tills.verdict(box);
        res.acknowledged += v.acknowledged;
        // Damaged records are allowed to be gone; served records must be intact and unique.
        res.duplicated += v.duplicated.length;
        res.changed += v.changed.length;
        res.lost += v.lost.length;
        if (v.duplicated.length || v.changed.length) res.violations.push(`run ${run + 1}: a damaged record was served or doubled`);
        // The box keeps selling after the damage: a read that meets a damaged block repairs the
        // journal, and sales made meanwhile get 503 + Retry-After (retryable, nothing journaled).
        const extra = new Tills(`tf${run}-after`);
        for (let attempt = 0; extra.acked.size < 10 && attempt < 100; attempt++) {
          const before = extra.acked.size;
          await extra.sell(box.port);
          if (extra.acked.size === before) await sleep(200);
        }
        if (extra.acked.size !== 10) res.violations.push(`run ${run + 1}: the box does not sell after the damage`);
        const status = (await call(box.port, 'GET', '/api/v1/status', undefined, managerAuth(dir))).json();
        // The integrity scan runs right after start; wait for its report.
        let integrity = status.journal.integrity;
        for (let i = 0; i < 100 && !integrity; i++) {
          await sleep(50);
          integrity = (await call(box.port, 'GET', '/api/v1/status', undefined, managerAuth(dir))).json().journal.integrity;
        }
        if (v.lost.length > 0 && integrity?.ok) {
          res.violations.push(`run ${run + 1}: ${v.lost.length} acknowledged sales gone but the integrity scan says ok`);
        }
        res.notes.push(
          `run ${run + 1}: ${v.lost.length} damaged sale(s) dropped, scan ok=${integrity?.ok}, quarantined ${integrity?.quarantined?.length ?? '?'}, gaps ${integrity?.gaps?.length ?? '?'}`,
        );
      } finally {
        await box.stop();
      }
    }
  } finally {
    await fs.destroy();
  }
  return res;
}

/** Damages the newest log's tail and flips bytes in a LevelDB directory; returns what it did. */
function damageLevel(dir: string, run: number): string {
  const files = readdirSync(dir).map((f) => ({ f, st: statSync(join(dir, f)) }));
  const logs = files.filter((x) => x.f.endsWith('.log') && x.st.size > 0).sort((a, b) => b.st.mtimeMs - a.st.mtimeMs);
  const tables = files.filter((x) => x.f.endsWith('.ldb') && x.st.size > 64);
  const did: string[] = [];
  const newest = logs[0];
  if (newest) {
    const path = join(dir, newest.f);
    const fd = openSync(path, 'r+');
    const size = fstatSync(fd).size;
    const cut = 1 + ((run * 997) % 200);
    ftruncateSync(fd, Math.max(0, size - cut));
    closeSync(fd);
    did.push(`tore ${cut} bytes off ${newest.f}`);
    if (run % 2 === 1 && size > 2000) {
      const buf = readFileSync(path);
      const at = Math.floor(buf.length / 2);
      buf[at] = buf[at]! ^ 0x10;
      writeFileSync(path, buf);
      did.push(`flipped a bit at ${at} of ${newest.f}`);
    }
  }
  for (const t of tables.slice(0, 1)) {
    const path = join(dir, t.f);
    const buf = readFileSync(path);
    const at = Math.floor(buf.length / 3);
    buf[at] = buf[at]! ^ 0x01;
    writeFileSync(path, buf);
    did.push(`flipped a bit at ${at} of ${t.f}`);
  }
  return did.join(', ') || 'nothing to damage';
}

/** SIGSTOP core for a few seconds during sales, then SIGCONT: tills time out and retry; nothing lost or doubled. */
export async function stopContinue(opts: ScenarioOptions): Promise<ScenarioResult> {
  const res = result('SIGSTOP/SIGCONT of core during sales', opts.runs);
  const fs = new FaultFs();
  await fs.mount();
  const stateDir = join(fs.mountpoint, 'state');
  const tills = new Tills('sc');
  try {
    const box = await startBox(stateDir);
    try {
      await waitHealthy(box.port);
      for (let run = 0; run < opts.runs; run++) {
        let stop = false;
        const selling = tills.run(box.port, opts.tills ?? 8, () => stop, 1500);
        await sleep(300 + Math.floor(Math.random() * 500));
        box.child.kill('SIGSTOP');
        await sleep(2000 + Math.floor(Math.random() * 1000));
        box.child.kill('SIGCONT');
        const t0 = Date.now();
        res.recoverSecondsMax = Math.max(res.recoverSecondsMax, sec(await waitHealthy(box.port)));
        await sleep(500);
        stop = true;
        await selling;
        void t0;
      }
    } finally {
      await box.stop();
    }
    await judge(res, tills, stateDir, {});
  } finally {
    await fs.destroy();
  }
  return res;
}

export const SCENARIOS = { powerCut, ioErrors, tornAndFlipped, stopContinue } as const;

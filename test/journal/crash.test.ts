import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { LevelJournal } from '../../appliance/journal/level-journal.ts';
import type { JournalEvent } from '../../appliance/journal/types.ts';
import { silentLogger } from '../../appliance/log.ts';
import { crashRequest } from './crash-request.ts';

// SIGKILL a process that is busy appending concurrent events, many times over
// on the same directory, then prove what was acknowledged survived exactly once
// and the journal is still consistent.

const here = fileURLToPath(new URL('.', import.meta.url));
const root = resolve(here, '../..');
const node = join(root, 'node_modules/.bin/node');
const child = join(here, 'crash-child.ts');

interface Ack {
  key: string;
  seq: number;
  id: string;
  hlc: string;
}

interface RunResult {
  acks: Ack[];
  intents: string[];
  ready: boolean;
  signal: NodeJS.Signals | null;
  stderr: string;
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tillbox-crash-'));
  dirs.push(d);
  return d;
}

const randomInt = (max: number): number => Math.floor(Math.random() * max);

/**
 * Runs one child and SIGKILLs it: usually at a random moment after its first
 * acknowledgement (mid-burst), sometimes at a random moment after spawn (during
 * start-up and recovery).
 */
function runAndKill(dir: string, killEarly: boolean): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const proc = spawn(node, [child, dir, '16'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const result: RunResult = { acks: [], intents: [], ready: false, signal: null, stderr: '' };
    let buffered = '';
    let killScheduled = false;
    const kill = (delayMs: number): void => {
      if (killScheduled) return;
      killScheduled = true;
      setTimeout(() => proc.kill('SIGKILL'), delayMs);
    };
    // Safety net only (a hung child), not a performance assertion.
    const guard = setTimeout(() => proc.kill('SIGKILL'), 30_000);
    if (killEarly) kill(randomInt(400));
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        const msg = JSON.parse(line) as { t: string } & Partial<Ack>;
        if (msg.t === 'ready') result.ready = true;
        else if (msg.t === 'intent') result.intents.push(msg.key!);
        else if (msg.t === 'ack') {
          result.acks.push({ key: msg.key!, seq: msg.seq!, id: msg.id!, hlc: msg.hlc! });
          kill(randomInt(250));
        }
      }
    });
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk: string) => (result.stderr += chunk));
    proc.on('error', reject);
    // 'close' fires after stdout is drained, so every line the child wrote is in.
    proc.on('close', (_code, signal) => {
      clearTimeout(guard);
      result.signal = signal;
      resolvePromise(result);
    });
  });
}

async function checkJournal(dir: string, acked: Map<string, Ack>): Promise<JournalEvent[]> {
  const journal = new LevelJournal({ dir, deviceId: 'crash-box', storeId: 'crash-store', log: silentLogger() });
  await journal.start();
  try {
    const events: JournalEvent[] = [];
    for (;;) {
      const page = await journal.read({ after: events.at(-1)?.seq ?? 0, limit: 1000 });
      if (page.length === 0) break;
      events.push(...page);
    }
    // seq is exactly 1..lastSeq.
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: journal.lastSeq }, (_, i) => i + 1));
    // The clock never went back.
    for (let i = 1; i < events.length; i++) expect(events[i - 1]!.hlc < events[i]!.hlc).toBe(true);
    // One event per idempotency key: nothing duplicated.
    expect(new Set(events.map((e) => e.idempotencyKey)).size).toBe(events.length);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    // Every acknowledged event is there, unchanged.
    const bySeq = new Map(events.map((e) => [e.seq, e]));
    for (const ack of acked.values()) {
      const e = bySeq.get(ack.seq);
      expect(e, `acknowledged seq ${ack.seq} missing`).toBeDefined();
      expect({ key: e!.idempotencyKey, id: e!.id, hlc: e!.hlc }).toEqual({ key: ack.key, id: ack.id, hlc: ack.hlc });
    }
    const report = await journal.verify();
    expect(report).toMatchObject({ ok: true, lastSeq: events.length, quarantined: [], gaps: [], hlcRegressions: [] });
    return events;
  } finally {
    await journal.stop();
  }
}

describe('journal under SIGKILL', () => {
  it('keeps every acknowledged event exactly once, gap-free and in clock order across 20 kills', async () => {
    const dir = tempDir();
    const acked = new Map<string, Ack>();
    const seqs = new Set<number>();
    let runsWithAcks = 0;
    for (let run = 0; run < 20; run++) {
      const r = await runAndKill(dir, run % 5 === 4);
      expect(r.stderr).toBe('');
      expect(r.signal).toBe('SIGKILL');
      if (r.acks.length > 0) runsWithAcks += 1;
      for (const a of r.acks) {
        // A seq acknowledged in an earlier life is never handed out again.
        expect(seqs.has(a.seq), `seq ${a.seq} acknowledged twice`).toBe(false);
        seqs.add(a.seq);
        acked.set(a.key, a);
      }
    }
    expect(runsWithAcks).toBeGreaterThan(10);
    const events = await checkJournal(dir, acked);
    expect(events.length).toBeGreaterThanOrEqual(acked.size);
    // The offline doctor check agrees once nothing holds the lock.
    expect((await LevelJournal.verifyDir({ dir })).state).toBe('ok');
  }, 120_000);

  it('never duplicates a sale when the in-flight requests are retried after each kill', async () => {
    const dir = tempDir();
    const acked = new Map<string, Ack>();
    const allIntents = new Set<string>();
    let durableButUnacked = 0;
    for (let run = 0; run < 8; run++) {
      const r = await runAndKill(dir, false);
      expect(r.signal).toBe('SIGKILL');
      for (const a of r.acks) acked.set(a.key, a);
      for (const k of r.intents) allIntents.add(k);
      const unacked = r.intents.filter((k) => !acked.has(k));

      // The till retries whatever it did not hear back about, plus a few it did.
      const journal = new LevelJournal({ dir, deviceId: 'crash-box', storeId: 'crash-store', log: silentLogger() });
      await journal.start();
      const sample = r.acks.slice(0, 5).map((a) => a.key);
      const retries = await Promise.all([...unacked, ...sample].map((k) => journal.append(crashRequest(k))));
      await journal.stop();
      retries.forEach((res, i) => {
        const key = i < unacked.length ? unacked[i]! : sample[i - unacked.length]!;
        expect(res.event.idempotencyKey).toBe(key);
        const ack = acked.get(key);
        if (ack) {
          expect(res).toMatchObject({ replayed: true, event: { id: ack.id, seq: ack.seq } });
        } else {
          if (res.replayed) durableButUnacked += 1;
          acked.set(key, { key, seq: res.event.seq, id: res.event.id, hlc: res.event.hlc });
        }
      });
    }
    const events = await checkJournal(dir, acked);
    // Every request ever attempted is in the journal exactly once: nothing lost, nothing doubled.
    expect(new Set(events.map((e) => e.idempotencyKey))).toEqual(allIntents);
    expect(events.length).toBe(allIntents.size);
    // Informational: requests that were durable when the kill landed but never acknowledged.
    console.info(`crash retry: ${allIntents.size} requests, ${durableButUnacked} durable-but-unacknowledged replays`);
  }, 120_000);
});

// Recorded HID input reports, replayed through the HidBinding interface so
// the real HidTransport + scanner decoders run unchanged (issue 4 §8).
//
// Recording format (JSON lines, *.hidrec.jsonl under drivers/sim/fixtures/):
//   line 1: {"format":"tillbox-hid-recording","version":1,"device":{vendorId,productId,serialNumber?,product?,usagePage?,usage?},"mode":"hid-pos"|"keyboard","description":...}
//   then:   {"t": <ms since start>, "report": "<hex>"}
// `t` keeps the recorded pacing for the demo (realtime: true); tests replay
// as fast as the event loop allows and never depend on it.
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { HidBinding, HidDeviceInfo, HidHandle } from '../transports/hid.ts';

export interface HidRecording {
  device: HidDeviceInfo;
  mode: 'hid-pos' | 'keyboard';
  description?: string;
  reports: { t: number; report: Buffer }[];
}

export function parseHidRecording(text: string): HidRecording {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const head = JSON.parse(lines[0] ?? '{}') as { format?: string; version?: number; device?: HidDeviceInfo; mode?: string; description?: string };
  if (head.format !== 'tillbox-hid-recording' || head.version !== 1 || !head.device) throw new TypeError('not a tillbox-hid-recording v1 file');
  if (head.mode !== 'hid-pos' && head.mode !== 'keyboard') throw new TypeError(`unknown mode ${JSON.stringify(head.mode)}`);
  const reports = lines.slice(1).map((l, i) => {
    const r = JSON.parse(l) as { t?: unknown; report?: unknown };
    if (typeof r.t !== 'number' || typeof r.report !== 'string' || !/^([0-9a-f]{2})+$/i.test(r.report)) throw new TypeError(`line ${i + 2}: expected {"t": number, "report": "hex"}`);
    return { t: r.t, report: Buffer.from(r.report, 'hex') };
  });
  return { device: head.device, mode: head.mode, ...(head.description ? { description: head.description } : {}), reports };
}

export function formatHidRecording(rec: HidRecording): string {
  const head = { format: 'tillbox-hid-recording', version: 1, device: rec.device, mode: rec.mode, ...(rec.description ? { description: rec.description } : {}) };
  return [JSON.stringify(head), ...rec.reports.map((r) => JSON.stringify({ t: r.t, report: r.report.toString('hex') }))].join('\n') + '\n';
}

export function loadHidRecording(path: string | URL): HidRecording {
  return parseHidRecording(readFileSync(path, 'utf8'));
}

export interface HidPlaybackOptions {
  /** Honour recorded timing (demo). Default false: replay on successive event-loop turns. */
  realtime?: boolean;
  /** After the last report: stay open (default) or simulate an unplug. */
  end?: 'idle' | 'unplug';
}

class PlaybackHandle extends EventEmitter implements HidHandle {
  readonly written: Buffer[] = [];
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  start(rec: HidRecording, opts: HidPlaybackOptions): void {
    let i = 0;
    const step = (): void => {
      if (this.#closed) return;
      const r = rec.reports[i++];
      if (!r) {
        if (opts.end === 'unplug') this.emit('error', new Error('could not read from HID device (playback ended: unplugged)'));
        return;
      }
      this.emit('data', Buffer.from(r.report));
      const next = rec.reports[i];
      const delay = opts.realtime && next ? Math.max(0, next.t - r.t) : 0;
      this.#timer = setTimeout(step, delay);
    };
    this.#timer = setTimeout(step, 0);
  }

  async write(data: number[] | Buffer): Promise<number> {
    this.written.push(Buffer.from(data));
    return data.length;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
  }
}

/** A HidBinding that offers one recorded device and replays its reports when opened. */
export class HidPlaybackBinding implements HidBinding {
  readonly recording: HidRecording;
  readonly #opts: HidPlaybackOptions;
  /** Handles opened so far (tests inspect writes). */
  readonly handles: PlaybackHandle[] = [];

  constructor(recording: HidRecording, opts: HidPlaybackOptions = {}) {
    this.recording = recording;
    this.#opts = opts;
  }

  async devices(): Promise<HidDeviceInfo[]> {
    return [{ ...this.recording.device, path: `playback:${this.recording.device.vendorId}:${this.recording.device.productId}` }];
  }

  async open(path: string): Promise<HidHandle> {
    if (!path.startsWith('playback:')) throw new Error(`no such device ${path}`);
    const h = new PlaybackHandle();
    this.handles.push(h);
    h.start(this.recording, this.#opts);
    return h;
  }
}

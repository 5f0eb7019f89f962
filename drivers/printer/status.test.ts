import { describe, expect, it, vi } from 'vitest';
import { isAsbFirstByte, isRealtimeStatusByte, parseAsb, parseRealtimeStatus, StatusFrameParser, toPrinterStatus, type InboundFrame } from './status.ts';

// Bit assignments from the ESC/POS Command Reference: DLE EOT (n = 1..4) and
// GS a (Automatic Status Back, 4-byte status).

describe('DLE EOT reply bytes', () => {
  it('n=1 printer status: 0x12 idle online, bit 2 drawer pin 3, bit 3 offline', () => {
    expect(parseRealtimeStatus(1, 0x12)).toMatchObject({ online: true, drawerPin3High: false });
    expect(parseRealtimeStatus(1, 0x1e)).toMatchObject({ online: false, drawerPin3High: true });
    expect(parseRealtimeStatus(1, 0x32)).toMatchObject({ waitingForRecovery: true });
  });
  it('n=2 offline cause: bit 2 cover open, bit 5 paper end stop, bit 6 error', () => {
    expect(parseRealtimeStatus(2, 0x16)).toMatchObject({ coverOpen: true, paperEndStop: false });
    expect(parseRealtimeStatus(2, 0x32)).toMatchObject({ coverOpen: false, paperEndStop: true });
    expect(parseRealtimeStatus(2, 0x52)).toMatchObject({ errorOccurred: true });
  });
  it('n=3 error cause: bit 3 autocutter, bit 5 unrecoverable, bit 6 auto-recoverable', () => {
    expect(parseRealtimeStatus(3, 0x1a)).toMatchObject({ cutterError: true, unrecoverableError: false });
    expect(parseRealtimeStatus(3, 0x72)).toMatchObject({ unrecoverableError: true, autoRecoverableError: true });
  });
  it('n=4 roll paper: bits 2-3 near end, bits 5-6 paper end', () => {
    expect(parseRealtimeStatus(4, 0x12)).toEqual({ paperNearEnd: false, paperEmpty: false });
    expect(parseRealtimeStatus(4, 0x1e)).toEqual({ paperNearEnd: true, paperEmpty: false });
    expect(parseRealtimeStatus(4, 0x7e)).toEqual({ paperNearEnd: true, paperEmpty: true });
  });
  it('fixed bits tell a status byte (0xx1xx10) from an ASB first byte (0xx1xx00)', () => {
    expect(isRealtimeStatusByte(0x12)).toBe(true);
    expect(isRealtimeStatusByte(0x10)).toBe(false);
    expect(isAsbFirstByte(0x10)).toBe(true);
    expect(isAsbFirstByte(0x3c)).toBe(true);
    expect(isAsbFirstByte(0x92)).toBe(false);
  });
});

describe('ASB frames and UnifiedPOS names', () => {
  it('decodes a cover-open, paper-out, drawer-high frame', () => {
    const bits = parseAsb(Buffer.from([0x3c, 0x00, 0x0f, 0x00]));
    expect(bits).toMatchObject({ drawerPin3High: true, online: false, coverOpen: true, paperNearEnd: true, paperEmpty: true });
    const s = toPrinterStatus(bits, { drawerOpenWhen: 'high', source: 'asb', at: new Date(0) });
    expect(s).toEqual({
      online: false,
      coverOpen: true,
      paper: 'empty',
      drawer: 'open',
      ready: false,
      conditions: ['cover-open', 'rec-empty', 'offline', 'drawer-open'],
      source: 'asb',
      at: '1970-01-01T00:00:00.000Z',
    });
  });
  it('idle printer with near-end paper is still ready; drawer low = closed', () => {
    const s = toPrinterStatus(parseAsb(Buffer.from([0x10, 0x00, 0x03, 0x00])), { drawerOpenWhen: 'high', source: 'asb' });
    expect(s).toMatchObject({ ready: true, paper: 'near-empty', drawer: 'closed', conditions: ['rec-near-empty'] });
  });
  it('a cutter error is not ready', () => {
    expect(toPrinterStatus(parseAsb(Buffer.from([0x18, 0x08, 0x00, 0x00])), { source: 'asb' })).toMatchObject({ ready: false, conditions: ['offline', 'cutter-error'] });
  });
});

describe('StatusFrameParser', () => {
  const collect = (opts = {}) => {
    const frames: InboundFrame[] = [];
    return { frames, p: new StatusFrameParser((f) => frames.push(f), opts) };
  };
  it('separates DLE EOT replies, ASB frames, process ID and buffer-cleared answers in one stream', () => {
    const { frames, p } = collect();
    p.push(Buffer.from([0x12, 0x10, 0x00, 0x00, 0x00, 0x16, 0x37, 0x22, 0x41, 0x30, 0x30, 0x31, 0x00, 0x37, 0x25, 0x00]));
    expect(frames).toEqual([
      { kind: 'realtime', byte: 0x12 },
      { kind: 'asb', bytes: Buffer.from([0x10, 0, 0, 0]) },
      { kind: 'realtime', byte: 0x16 },
      { kind: 'process-id', id: 'A001' },
      { kind: 'buffer-cleared' },
    ]);
  });
  it('frames split across chunks are joined', () => {
    const { frames, p } = collect();
    for (const b of [0x3c, 0x00, 0x0f, 0x00, 0x37, 0x22, 0x7e, 0x7e]) p.push(Buffer.from([b]));
    p.push(Buffer.from([0x20, 0x21, 0x00]));
    expect(frames).toEqual([
      { kind: 'asb', bytes: Buffer.from([0x3c, 0, 0x0f, 0]) },
      { kind: 'process-id', id: '~~ !' },
    ]);
  });
  it('a status byte inside a broken ASB frame restarts the parse and is not lost', () => {
    const { frames, p } = collect();
    p.push(Buffer.from([0x10, 0x00, 0x12]));
    expect(frames).toEqual([
      { kind: 'unknown', bytes: Buffer.from([0x10, 0x00]) },
      { kind: 'realtime', byte: 0x12 },
    ]);
  });
  it('an unfinished frame is dropped after the inter-byte timeout (injected timer)', () => {
    vi.useFakeTimers();
    try {
      const { frames, p } = collect({ interByteTimeoutMs: 50 });
      p.push(Buffer.from([0x10, 0x00]));
      expect(frames).toEqual([]);
      vi.advanceTimersByTime(60);
      expect(frames).toEqual([{ kind: 'unknown', bytes: Buffer.from([0x10, 0x00]) }]);
      p.push(Buffer.from([0x12]));
      expect(frames.at(-1)).toEqual({ kind: 'realtime', byte: 0x12 });
    } finally {
      vi.useRealTimers();
    }
  });
  it('rejects a bad timeout in the constructor', () => {
    expect(() => new StatusFrameParser(() => {}, { interByteTimeoutMs: 0 })).toThrow(RangeError);
  });
});

// ESC/POS receipt printer simulator: a real TCP 9100 server (DESIGN.md,
// "simulators are real programs over real OS interfaces"). It interprets what
// it receives into a receipt model, answers DLE EOT 1-4, sends Automatic
// Status Back, answers GS ( H process IDs when the data before them is
// printed, and can be switched to paper out / near end / cover open /
// offline / powered off from code, from stdin, or over a control port.
//
// Like a real printer, bytes that reached it stay in its buffer when the
// connection drops and print once it can (unless DLE DC4 fn 8 clears them);
// while stopped (paper out, cover open, offline) only real-time commands run.
//
//   node_modules/.bin/node drivers/sim/printer.ts --port 9100 [--control 9101] [--columns 48]
import { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import iconv from 'iconv-lite';
import { EscPosTokenizer, type Token } from './printer-escpos.ts';

export type SimElement =
  | { kind: 'text'; text: string; align: 'left' | 'center' | 'right'; bold: boolean; underline: boolean; width: number; height: number }
  | { kind: 'barcode'; symbology: string; data: string }
  | { kind: 'qr'; data: string }
  | { kind: 'feed'; lines: number }
  | { kind: 'image'; bytes: number }
  | { kind: 'drawer'; pin: 2 | 5; onMs: number };

export interface SimReceipt {
  seq: number;
  elements: SimElement[];
  /** How it ended: a cut, or 'torn' when its buffer was cleared / power was lost before the cut. */
  end: 'full-cut' | 'partial-cut' | 'torn' | null;
  /** Printed to the cut (a torn fragment is not complete). */
  complete: boolean;
}

export interface SimPrinterOptions {
  port?: number;
  host?: string;
  columns?: number;
  /** Pin 3 level when the drawer is open; default 'high' (matches models.ts drawerPins()). */
  drawerOpenWhen?: 'high' | 'low';
  /** Receipts kept in memory (oldest dropped). Default 200. */
  keep?: number;
  /** Bytes queued while stopped before the simulator stops reading the socket (TCP flow control). */
  maxQueuedBytes?: number;
  /** Answer GS ( H with the process ID response (Epson TM). Default true. */
  processIdResponse?: boolean;
}

export interface SimPrinterState {
  paper: 'ok' | 'near-end' | 'out';
  coverOpen: boolean;
  /** Forced offline (e.g. a mechanical error) independent of paper and cover. */
  offline: boolean;
  powered: boolean;
  drawerOpen: boolean;
  cutterError: boolean;
}

interface Conn {
  socket: Socket;
  tokenizer: EscPosTokenizer;
  asbMask: number;
  /** Close the socket after this many more received bytes (unplug mid-print). */
  dropAfter?: number;
}

type Queued = { token: Token; conn: Conn };

const CODE_PAGES: Record<number, string> = { 0: 'cp437', 2: 'cp850', 16: 'windows1252', 17: 'cp866', 18: 'cp852', 19: 'cp858' };

export interface SimPrinterEvents {
  receipt: [r: SimReceipt];
  drawer: [info: { pin: 2 | 5; open: boolean }];
  connection: [open: boolean];
  data: [bytes: number];
}

export class SimPrinter extends EventEmitter<SimPrinterEvents> {
  readonly opts: Required<Omit<SimPrinterOptions, 'port' | 'host'>> & { port: number; host: string };
  readonly receipts: SimReceipt[] = [];
  /** Every element ever executed, for tests (drawer kicks included). */
  readonly state: SimPrinterState = { paper: 'ok', coverOpen: false, offline: false, powered: true, drawerOpen: false, cutterError: false };
  /** Counters: bytes received, DLE EOT answered, process IDs answered, buffers cleared, connections. */
  readonly stats = { bytes: 0, statusQueries: 0, processIds: 0, clears: 0, connections: 0, unknown: 0 };
  #server: Server | undefined;
  readonly #conns = new Set<Conn>();
  #queue: Queued[] = [];
  #queuedBytes = 0;
  #seq = 0;
  #current: SimReceipt | undefined;
  #line: { text: string; align: 'left' | 'center' | 'right'; bold: boolean; underline: boolean; width: number; height: number }[] = [];
  #style = { bold: false, underline: false, width: 1, height: 1, align: 'left' as 'left' | 'center' | 'right', page: 'cp437' };
  #qrData = '';
  #dropNext: number | undefined;

  constructor(opts: SimPrinterOptions = {}) {
    super();
    this.opts = {
      port: opts.port ?? 0,
      host: opts.host ?? '127.0.0.1',
      columns: opts.columns ?? 48,
      drawerOpenWhen: opts.drawerOpenWhen ?? 'high',
      keep: opts.keep ?? 200,
      maxQueuedBytes: opts.maxQueuedBytes ?? 1 << 20,
      processIdResponse: opts.processIdResponse ?? true,
    };
  }

  get port(): number {
    const a = this.#server?.address();
    return typeof a === 'object' && a ? a.port : this.opts.port;
  }
  get uri(): string {
    return `tcp://${this.opts.host}:${this.port}`;
  }

  async start(): Promise<this> {
    const server = createServer((s) => this.#accept(s));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return this;
  }

  async stop(): Promise<void> {
    for (const c of this.#conns) c.socket.destroy();
    this.#conns.clear();
    const s = this.#server;
    this.#server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  // ---------------------------------------------------------------- control API

  setPaper(paper: SimPrinterState['paper']): void {
    this.state.paper = paper;
    this.#changed();
  }
  setCover(open: boolean): void {
    this.state.coverOpen = open;
    this.#changed();
  }
  setOffline(offline: boolean): void {
    this.state.offline = offline;
    this.#changed();
  }
  /** Someone closed (or forced open) the drawer by hand. */
  setDrawer(open: boolean): void {
    this.state.drawerOpen = open;
    this.#changed();
  }
  /** Power off drops every connection, loses the buffer (the partial receipt is torn) and refuses connections. */
  setPower(on: boolean): void {
    this.state.powered = on;
    if (!on) {
      for (const c of this.#conns) c.socket.destroy();
      this.#conns.clear();
      this.#clearBuffer();
    }
    this.#changed();
  }
  /**
   * Cuts the link after `bytes` more received bytes (cable pulled mid-print):
   * on the open connections, or on the next one when none is open.
   */
  dropAfter(bytes: number): void {
    if (this.#conns.size === 0) this.#dropNext = bytes;
    for (const c of this.#conns) c.dropAfter = bytes;
  }
  /** Drops the current connections now. */
  dropConnections(): void {
    for (const c of this.#conns) c.socket.destroy();
  }

  get printable(): boolean {
    return this.state.powered && !this.state.offline && !this.state.coverOpen && this.state.paper !== 'out';
  }
  get connections(): number {
    return this.#conns.size;
  }
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Complete receipts (cut) as text, oldest first. */
  completeReceipts(): SimReceipt[] {
    return this.receipts.filter((r) => r.complete);
  }
  lastReceipt(): SimReceipt | undefined {
    return this.receipts.at(-1);
  }
  lastReceiptText(): string {
    const r = this.lastReceipt();
    return r ? this.renderText(r) : '';
  }

  renderText(r: SimReceipt): string {
    const cols = this.opts.columns;
    const out: string[] = [];
    for (const e of r.elements) {
      switch (e.kind) {
        case 'text': {
          const t = e.width > 1 ? e.text.toUpperCase() : e.text;
          const w = Math.max(0, cols - t.length);
          out.push(e.align === 'center' ? ' '.repeat(Math.floor(w / 2)) + t : e.align === 'right' ? ' '.repeat(w) + t : t);
          break;
        }
        case 'barcode':
          out.push(`[${e.symbology} ${e.data}]`);
          break;
        case 'qr':
          out.push(`[QR ${e.data}]`);
          break;
        case 'feed':
          for (let i = 0; i < Math.min(e.lines, 10); i++) out.push('');
          break;
        case 'image':
          out.push(`[image ${e.bytes} bytes]`);
          break;
        case 'drawer':
          out.push(`[drawer kick pin ${e.pin} ${e.onMs} ms]`);
          break;
      }
    }
    out.push(r.end === 'torn' ? '~~~~~~~~ torn ~~~~~~~~' : r.end ? `-------- ${r.end} --------` : '');
    return out.map((l) => l.trimEnd()).join('\n');
  }

  // ---------------------------------------------------------------- status bytes

  #pin3High(): boolean {
    return this.state.drawerOpen === (this.opts.drawerOpenWhen === 'high');
  }
  #isOffline(): boolean {
    return !this.printable;
  }
  /** DLE EOT n reply: fixed bits 0xx1xx10 plus the status bits of the ESC/POS reference. */
  statusByte(n: number): number {
    const s = this.state;
    switch (n) {
      case 1:
        return 0x12 | (this.#pin3High() ? 0x04 : 0) | (this.#isOffline() ? 0x08 : 0);
      case 2:
        return 0x12 | (s.coverOpen ? 0x04 : 0) | (s.paper === 'out' ? 0x20 : 0) | (s.offline || s.cutterError ? 0x40 : 0);
      case 3:
        return 0x12 | (s.cutterError ? 0x08 : 0) | (s.offline ? 0x20 : 0);
      case 4:
        return 0x12 | (s.paper !== 'ok' ? 0x0c : 0) | (s.paper === 'out' ? 0x60 : 0);
      default:
        return 0x12;
    }
  }
  /** 4-byte ASB frame (GS a): byte 1 0xx1xx00, bytes 2-4 with bit 4 = 0. */
  asbFrame(): Buffer {
    const s = this.state;
    const b1 = 0x10 | (this.#pin3High() ? 0x04 : 0) | (this.#isOffline() ? 0x08 : 0) | (s.coverOpen ? 0x20 : 0);
    const b2 = (s.cutterError ? 0x08 : 0) | (s.offline ? 0x20 : 0);
    const b3 = (s.paper !== 'ok' ? 0x03 : 0) | (s.paper === 'out' ? 0x0c : 0);
    return Buffer.from([b1, b2, b3, 0x00]);
  }

  #changed(): void {
    for (const c of this.#conns) if (c.asbMask !== 0) c.socket.write(this.asbFrame());
    this.#drain();
  }

  // ---------------------------------------------------------------- connections

  #accept(socket: Socket): void {
    if (!this.state.powered) {
      socket.destroy();
      return;
    }
    this.stats.connections++;
    const conn: Conn = { socket, asbMask: 0, tokenizer: new EscPosTokenizer((t) => this.#token(t, conn)) };
    if (this.#dropNext !== undefined) {
      conn.dropAfter = this.#dropNext;
      this.#dropNext = undefined;
    }
    this.#conns.add(conn);
    this.emit('connection', true);
    socket.on('data', (chunk: Buffer) => {
      let data = chunk;
      if (conn.dropAfter !== undefined) {
        data = chunk.subarray(0, conn.dropAfter);
        conn.dropAfter -= data.length;
      }
      this.stats.bytes += data.length;
      conn.tokenizer.push(data);
      this.emit('data', data.length);
      if (conn.dropAfter === 0) socket.destroy();
      this.#drain();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#conns.delete(conn);
      this.emit('connection', false);
    });
  }

  #token(t: Token, conn: Conn): void {
    if (t.realtime) return this.#realtime(t, conn);
    this.#queue.push({ token: t, conn });
    this.#queuedBytes += t.bytes.length;
    // A stopped printer's buffer fills and the host is flow-controlled, as with a real one.
    if (this.#queuedBytes > this.opts.maxQueuedBytes) conn.socket.pause();
  }

  #realtime(t: Token, conn: Conn): void {
    const b = t.bytes;
    if (t.name === 'DLE EOT') {
      this.stats.statusQueries++;
      if (this.state.powered) conn.socket.write(Buffer.from([this.statusByte(b[2]!)]));
    } else if (t.name === 'DLE DC4') {
      const fn = b[2];
      if (fn === 1) this.#kick(b[3] === 1 ? 5 : 2, (b[4] ?? 1) * 100);
      else if (fn === 8 && b.subarray(3).equals(Buffer.from([1, 3, 20, 1, 6, 2, 8]))) {
        this.stats.clears++;
        this.#clearBuffer();
        conn.socket.write(Buffer.from([0x37, 0x25, 0x00]));
      }
    }
  }

  #clearBuffer(): void {
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#line = [];
    if (this.#current && this.#current.elements.length > 0) this.#finish('torn');
    this.#current = undefined;
    for (const c of this.#conns) c.socket.resume();
  }

  #drain(): void {
    while (this.#queue.length > 0 && this.printable) {
      const q = this.#queue.shift()!;
      this.#queuedBytes -= q.token.bytes.length;
      this.#exec(q.token, q.conn);
    }
    if (this.#queuedBytes <= this.opts.maxQueuedBytes) for (const c of this.#conns) if (c.socket.isPaused()) c.socket.resume();
  }

  // ---------------------------------------------------------------- interpreter

  #receipt(): SimReceipt {
    this.#current ??= { seq: ++this.#seq, elements: [], end: null, complete: false };
    return this.#current;
  }

  #flushLine(): void {
    const r = this.#receipt();
    const segs = this.#line;
    this.#line = [];
    const text = segs.map((s) => s.text).join('');
    const first = segs[0];
    r.elements.push({
      kind: 'text',
      text,
      align: this.#style.align,
      bold: segs.some((s) => s.bold),
      underline: segs.some((s) => s.underline),
      width: first?.width ?? this.#style.width,
      height: first?.height ?? this.#style.height,
    });
  }

  #finish(end: NonNullable<SimReceipt['end']>): void {
    const r = this.#receipt();
    r.end = end;
    r.complete = end !== 'torn';
    this.#current = undefined;
    this.receipts.push(r);
    if (this.receipts.length > this.opts.keep) this.receipts.splice(0, this.receipts.length - this.opts.keep);
    this.emit('receipt', r);
  }

  #kick(pin: 2 | 5, onMs: number): void {
    this.#receipt().elements.push({ kind: 'drawer', pin, onMs });
    // Pin 2 and pin 5 both fire a solenoid; either opens the drawer wired to it.
    this.state.drawerOpen = true;
    this.emit('drawer', { pin, open: true });
    this.#changed();
  }

  #exec(t: Token, conn: Conn): void {
    const b = t.bytes;
    const s = this.#style;
    switch (t.name) {
      case 'text':
        this.#line.push({ text: iconv.decode(b, s.page), align: s.align, bold: s.bold, underline: s.underline, width: s.width, height: s.height });
        return;
      case 'LF':
        return this.#flushLine();
      case 'ESC @':
        this.#line = [];
        this.#style = { bold: false, underline: false, width: 1, height: 1, align: 'left', page: 'cp437' };
        return;
      case 'ESC E':
        s.bold = (b[2]! & 1) === 1;
        return;
      case 'ESC -':
        s.underline = (b[2]! & 3) !== 0 && b[2] !== 48;
        return;
      case 'ESC a':
        s.align = (['left', 'center', 'right'] as const)[b[2]! % 48] ?? 'left';
        return;
      case 'ESC t':
        s.page = CODE_PAGES[b[2]!] ?? 'cp437';
        return;
      case 'ESC d':
        if (this.#line.length > 0) this.#flushLine();
        this.#receipt().elements.push({ kind: 'feed', lines: b[2]! });
        return;
      case 'ESC p':
        return this.#kick(b[2] === 1 || b[2] === 49 ? 5 : 2, (b[3] ?? 0) * 2);
      case 'GS !':
        s.width = ((b[2]! >> 4) & 7) + 1;
        s.height = (b[2]! & 7) + 1;
        return;
      case 'GS a':
        conn.asbMask = b[2]!;
        // The printer answers GS a n != 0 with a first ASB right away.
        if (conn.asbMask !== 0) conn.socket.write(this.asbFrame());
        return;
      case 'GS V':
        if (this.#line.length > 0) this.#flushLine();
        return this.#finish(b[2] === 1 || b[2] === 49 || b[2] === 66 ? 'partial-cut' : 'full-cut');
      case 'GS k':
        return this.#barcode(b);
      case 'GS ( k':
        return this.#qr(b);
      case 'GS ( H':
        // fn 48 m 48 d1..d4: answered once everything before it has been printed (it has: the queue is in order).
        if (b.length === 11 && b[5] === 48 && b[6] === 48 && this.opts.processIdResponse) {
          this.stats.processIds++;
          conn.socket.write(Buffer.concat([Buffer.from([0x37, 0x22]), b.subarray(7, 11), Buffer.from([0])]));
        }
        return;
      case 'GS v':
      case 'GS 8 L':
      case 'GS *':
      case 'ESC *':
        this.#receipt().elements.push({ kind: 'image', bytes: t.skipped ?? b.length });
        return;
      default:
        if (t.name === 'CTRL' || t.name.startsWith('ESC') || t.name.startsWith('GS') || t.name.startsWith('FS')) this.stats.unknown++;
    }
  }

  #barcode(b: Buffer): void {
    const m = b[2]!;
    let symbology: string;
    let data: Buffer;
    if (m <= 6) {
      symbology = ['UPC-A', 'UPC-E', 'EAN-13', 'EAN-8', 'CODE39', 'ITF', 'CODABAR'][m]!;
      data = b.subarray(3, b.length - 1);
    } else {
      symbology = { 65: 'UPC-A', 66: 'UPC-E', 67: 'EAN-13', 68: 'EAN-8', 69: 'CODE39', 70: 'ITF', 71: 'CODABAR', 72: 'CODE93', 73: 'CODE128' }[m] ?? `GS k ${m}`;
      data = b.subarray(4);
    }
    let text: string;
    if (symbology === 'CODE128' && data[0] === 0x7b && data[1] === 0x43) {
      text = [...data.subarray(2)].map((v) => String(v).padStart(2, '0')).join('');
    } else if (symbology === 'CODE128' && data[0] === 0x7b) {
      text = data.subarray(2).toString('latin1').replaceAll('{{', '{');
    } else text = data.toString('latin1');
    if (this.#line.length > 0) this.#flushLine();
    this.#receipt().elements.push({ kind: 'barcode', symbology, data: text });
  }

  #qr(b: Buffer): void {
    // GS ( k pL pH cn fn ...: cn 49 = QR; fn 80 stores (m = 48, data), fn 81 prints.
    if (b[5] !== 49) return;
    if (b[6] === 80) this.#qrData = b.subarray(8).toString('utf8');
    else if (b[6] === 81) {
      if (this.#line.length > 0) this.#flushLine();
      this.#receipt().elements.push({ kind: 'qr', data: this.#qrData });
    }
  }

  // ---------------------------------------------------------------- control text

  /** One control line ("paper out", "cover open", "drawer close", "status", "last"); returns the answer text. */
  control(line: string): string {
    const [what = '', arg = ''] = line.trim().toLowerCase().split(/\s+/);
    switch (what) {
      case 'paper':
        this.setPaper(arg === 'out' || arg === 'empty' ? 'out' : arg === 'near' || arg === 'near-end' ? 'near-end' : 'ok');
        break;
      case 'cover':
        this.setCover(arg === 'open');
        break;
      case 'offline':
        this.setOffline(arg !== 'off');
        break;
      case 'online':
        this.setOffline(false);
        break;
      case 'drawer':
        this.setDrawer(arg === 'open');
        break;
      case 'power':
        this.setPower(arg !== 'off');
        break;
      case 'drop':
        this.dropConnections();
        break;
      case 'last':
        return this.lastReceiptText();
      case 'status':
        break;
      default:
        return 'commands: paper ok|near|out, cover open|closed, offline on|off, drawer open|closed, power on|off, drop, status, last';
    }
    return JSON.stringify({ ...this.state, printable: this.printable, queuedBytes: this.#queuedBytes, receipts: this.receipts.length });
  }
}

// ---------------------------------------------------------------- standalone

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main(): Promise<void> {
  const sim = await new SimPrinter({ port: arg('port', 9100), columns: arg('columns', 48), host: process.argv.includes('--any') ? '0.0.0.0' : '127.0.0.1' }).start();
  sim.on('receipt', (r) => process.stdout.write(`\n${sim.renderText(r)}\n`));
  sim.on('drawer', (d) => process.stdout.write(`[drawer opened by pin ${d.pin}]\n`));
  process.stderr.write(`printer simulator on ${sim.uri}; type "help" for controls\n`);
  const controlPort = arg('control', 0);
  if (controlPort > 0) {
    createServer((s) => {
      createInterface({ input: s }).on('line', (l) => s.write(`${sim.control(l)}\n`));
      s.on('error', () => {});
    }).listen(controlPort, '127.0.0.1');
  }
  createInterface({ input: process.stdin }).on('line', (l) => process.stderr.write(`${sim.control(l)}\n`));
  process.on('SIGINT', () => void sim.stop().then(() => process.exit(0)));
  process.on('SIGTERM', () => void sim.stop().then(() => process.exit(0)));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) void main();

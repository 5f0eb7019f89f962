// A document builder over the command encoders: tracks the style state so a
// renderer can say what it means (bold line, right-aligned total) and the
// builder emits only the commands that change something.
import * as cmd from './escpos.ts';
import type { PrinterModel } from './models.ts';

export interface TextStyle {
  bold?: boolean;
  underline?: boolean;
  width?: number;
  height?: number;
  align?: cmd.Align;
}

export class EscPosBuilder {
  readonly model: PrinterModel;
  readonly #parts: Buffer[] = [];
  #page: cmd.CodePage;
  #bold = false;
  #underline = false;
  #w = 1;
  #h = 1;
  #align: cmd.Align = 'left';

  constructor(model: PrinterModel) {
    this.model = model;
    this.#page = model.defaultCodePage;
  }

  /** Characters that fit on one line at the current width magnification. */
  get columns(): number {
    return Math.floor(this.model.columns / this.#w);
  }

  raw(bytes: Buffer): this {
    this.#parts.push(bytes);
    return this;
  }

  /** ESC @ then the preferred code page; resets the tracked state to the printer's. */
  init(): this {
    this.#bold = this.#underline = false;
    this.#w = this.#h = 1;
    this.#align = 'left';
    this.raw(cmd.init());
    return this.codePage(this.model.defaultCodePage);
  }

  codePage(page: cmd.CodePage): this {
    const n = this.model.codePages[page];
    if (n === undefined) throw new Error(`${this.model.name} has no code page ${page}`);
    this.#page = page;
    return this.raw(cmd.codeTable(n));
  }

  style(s: TextStyle): this {
    if (s.bold !== undefined && s.bold !== this.#bold) this.raw(cmd.bold((this.#bold = s.bold)));
    if (s.underline !== undefined && s.underline !== this.#underline) this.raw(cmd.underline((this.#underline = s.underline) ? 1 : 0));
    const w = s.width ?? this.#w;
    const h = s.height ?? this.#h;
    if (w !== this.#w || h !== this.#h) {
      this.raw(cmd.charSize(w, h));
      this.#w = w;
      this.#h = h;
    }
    if (s.align !== undefined && s.align !== this.#align) this.raw(cmd.align((this.#align = s.align)));
    return this;
  }

  /** Normal size, not bold, left aligned. */
  plain(): this {
    return this.style({ bold: false, underline: false, width: 1, height: 1, align: 'left' });
  }

  text(t: string): this {
    return this.raw(cmd.encodeText(t, this.#page));
  }

  /** One printed line (text, then LF) with an optional style for it. */
  line(t = '', s?: TextStyle): this {
    if (s) this.style(s);
    return this.text(t).raw(cmd.lineFeed());
  }

  /** Text longer than a line is cut into lines (at spaces when possible), never left to the printer to wrap mid-word. */
  wrap(t: string, s?: TextStyle): this {
    if (s) this.style(s);
    const cols = this.columns;
    let rest = t;
    while (rest.length > cols) {
      const at = rest.lastIndexOf(' ', cols);
      const cut = at > cols / 2 ? at : cols;
      this.line(rest.slice(0, cut));
      rest = rest.slice(cut).trimStart();
    }
    return this.line(rest);
  }

  /** Left and right text on one line, right part flush right; the left part is cut if both do not fit. */
  pair(left: string, right: string, s?: TextStyle): this {
    if (s) this.style(s);
    const cols = this.columns;
    const room = Math.max(0, cols - right.length - 1);
    const l = left.length > room ? left.slice(0, room) : left;
    return this.line(l + ' '.repeat(Math.max(1, cols - l.length - right.length)) + right);
  }

  rule(ch = '-'): this {
    return this.line(ch.repeat(this.columns));
  }

  feed(lines: number): this {
    return this.raw(cmd.feedLines(lines));
  }

  ean13(data: string, opts: { height?: number; hri?: cmd.HriPosition } = {}): this {
    return this.raw(cmd.barcodeHeight(opts.height ?? 80))
      .raw(cmd.barcodeWidth(this.model.barcodeModuleWidth))
      .raw(cmd.barcodeHri(opts.hri ?? 'below'))
      .raw(cmd.ean13(data));
  }

  code128(data: string, opts: { set?: 'B' | 'C'; height?: number; hri?: cmd.HriPosition } = {}): this {
    const set = opts.set ?? 'B';
    const symbols = set === 'C' ? data.length / 2 : data.length;
    // Wider than the head and the printer silently prints nothing: refuse early.
    let width = this.model.barcodeModuleWidth;
    while (width > 1 && cmd.code128Modules(symbols) * width > this.model.dots) width--;
    if (cmd.code128Modules(symbols) * width > this.model.dots) throw new RangeError(`CODE128 of ${symbols} symbols does not fit ${this.model.dots} dots`);
    return this.raw(cmd.barcodeHeight(opts.height ?? 60))
      .raw(cmd.barcodeWidth(width))
      .raw(cmd.barcodeHri(opts.hri ?? 'none'))
      .raw(cmd.code128(data, set));
  }

  qr(data: string, opts: { moduleSize?: number; errorCorrection?: cmd.QrErrorCorrection } = {}): this {
    if (!this.model.qr) throw new Error(`${this.model.name} does not print QR codes`);
    return this.raw(cmd.qrCode(data, opts));
  }

  /** Cut when the model has a cutter, otherwise feed so the receipt can be torn off. */
  cut(): this {
    const c = this.model.cutter;
    return c ? this.raw(cmd.cut(c.partial, c.feed)) : this.feed(this.model.feedLinesBeforeTear);
  }

  drawerKick(pin?: cmd.DrawerPin, onMs?: number, offMs?: number): this {
    const d = this.model.drawer;
    if (!d) throw new Error(`${this.model.name} has no drawer kick connector`);
    const p = pin ?? d.pins[0] ?? 2;
    if (!d.pins.includes(p)) throw new Error(`${this.model.name} has no drawer pin ${p}`);
    return this.raw(cmd.drawerKick(p, onMs, offMs));
  }

  build(): Buffer {
    return Buffer.concat(this.#parts);
  }
}

import { describe, expect, it } from 'vitest';
import * as cmd from './escpos.ts';
import { EscPosBuilder } from './builder.ts';
import { MODELS, codePages, columns, cutter, definePrinter, drawerPins } from './models.ts';

// Byte vectors from the Epson ESC/POS Command Reference; the section named in
// each test is the command's page there.
const hex = (b: Buffer) => b.toString('hex');

describe('ESC/POS command bytes', () => {
  it('ESC @ initialize printer = 1B 40', () => expect(hex(cmd.init())).toBe('1b40'));
  it('ESC E n emphasized = 1B 45 n', () => {
    expect(hex(cmd.bold(true))).toBe('1b4501');
    expect(hex(cmd.bold(false))).toBe('1b4500');
  });
  it('ESC - n underline = 1B 2D n (0..2)', () => {
    expect(hex(cmd.underline(2))).toBe('1b2d02');
    expect(() => cmd.underline(3 as 2)).toThrow(RangeError);
  });
  it('GS ! n character size: width-1 in bits 4-6, height-1 in bits 0-2', () => {
    expect(hex(cmd.charSize(2, 2))).toBe('1d2111');
    expect(hex(cmd.charSize(1, 2))).toBe('1d2101');
    expect(hex(cmd.charSize(3, 1))).toBe('1d2120');
    expect(() => cmd.charSize(9, 1)).toThrow(RangeError);
  });
  it('ESC a n justification = 1B 61 0/1/2', () => {
    expect(hex(cmd.align('left'))).toBe('1b6100');
    expect(hex(cmd.align('center'))).toBe('1b6101');
    expect(hex(cmd.align('right'))).toBe('1b6102');
  });
  it('ESC t n code table: PC858 (Euro) is page 19 on Epson', () => expect(hex(cmd.codeTable(19))).toBe('1b7413'));
  it('ESC d n print and feed n lines', () => expect(hex(cmd.feedLines(3))).toBe('1b6403'));
  it('GS V m n function B: 65 full, 66 partial, then feed n', () => {
    expect(hex(cmd.cut(false))).toBe('1d564100');
    expect(hex(cmd.cut(true, 3))).toBe('1d564203');
  });
  it('ESC p m t1 t2 drawer pulse: m 0 = pin 2, m 1 = pin 5, t x 2 ms', () => {
    expect(hex(cmd.drawerKick(2, 100, 500))).toBe('1b700032fa'); // t1 = 50 (100 ms), t2 = 250 (500 ms)
    expect(hex(cmd.drawerKick(5, 50, 20))).toBe('1b70011919'); // t2 < t1 is raised to t1
  });
  it('DLE DC4 fn 1 real-time pulse: 10 14 01 m t (t x 100 ms)', () => {
    expect(hex(cmd.drawerKickRealtime(2, 100))).toBe('1014010001');
    expect(hex(cmd.drawerKickRealtime(5, 200))).toBe('1014010102');
  });
  it('DLE EOT n real-time status = 10 04 n', () => {
    expect(hex(cmd.realtimeStatus(1))).toBe('100401');
    expect(hex(cmd.realtimeStatus(4))).toBe('100404');
  });
  it('GS a n automatic status back = 1D 61 n', () => expect(hex(cmd.automaticStatusBack(0x0f))).toBe('1d610f'));
  it('GS ( H fn 48 process ID = 1D 28 48 06 00 30 30 d1..d4', () => {
    expect(hex(cmd.processId('A001'))).toBe('1d284806003030' + '41303031');
    expect(() => cmd.processId('abc')).toThrow(RangeError);
    expect(() => cmd.processId('ab\x01c')).toThrow(RangeError);
  });
  it('DLE DC4 fn 8 clear buffers = 10 14 08 01 03 14 01 06 02 08', () => expect(hex(cmd.clearBuffers())).toBe('10140801031401060208'));
  it('GS h / GS w / GS H bar code setup', () => {
    expect(hex(cmd.barcodeHeight(80))).toBe('1d6850');
    expect(hex(cmd.barcodeWidth(3))).toBe('1d7703');
    expect(hex(cmd.barcodeHri('below'))).toBe('1d4802');
  });
  it('GS k m=67 EAN13 with 12 or 13 digits; the check digit is verified', () => {
    expect(hex(cmd.ean13('400638133393'))).toBe('1d6b430c' + Buffer.from('400638133393').toString('hex'));
    expect(hex(cmd.ean13('4006381333931'))).toBe('1d6b430d' + Buffer.from('4006381333931').toString('hex'));
    expect(cmd.ean13CheckDigit('400638133393')).toBe(1);
    expect(() => cmd.ean13('4006381333932')).toThrow(/check digit/);
    expect(() => cmd.ean13('40063813339')).toThrow(RangeError);
  });
  it('GS k m=73 CODE128: {B prefix, "{" doubled; set C packs digit pairs as byte values', () => {
    expect(hex(cmd.code128('AB{1'))).toBe('1d6b4907' + '7b42' + '41427b7b31');
    expect(hex(cmd.code128('012345', 'C'))).toBe('1d6b4905' + '7b43' + '01172d');
    expect(() => cmd.code128('123', 'C')).toThrow(RangeError);
  });
  it('GS ( k QR: functions 165, 167, 169, 180, 181 with cn = 49', () => {
    const q = hex(cmd.qrCode('ABC', { moduleSize: 4, errorCorrection: 'Q' }));
    expect(q).toBe(
      '1d286b0400314132' +
        '00' + // fn 65: model 2
        '1d286b03003143' +
        '04' + // fn 67: module size 4
        '1d286b03003145' +
        '32' + // fn 69: error correction Q (50)
        '1d286b0600315030' +
        '414243' + // fn 80: store, pL = k + 3
        '1d286b0300315130', // fn 81: print
    );
  });
  it('text through CP858 prints the euro sign as D5h and never emits control bytes', () => {
    expect(hex(cmd.encodeText('€ äß', 'cp858'))).toBe('d52084e1');
    expect(hex(cmd.encodeText('a\x1b@b', 'cp858'))).toBe('61204062');
    expect(hex(cmd.encodeText('中', 'cp858'))).toBe('3f');
  });
});

describe('models as data', () => {
  it('composes helpers; later parts override defaults', () => {
    const m = definePrinter('x', 'Acme', 'X1', columns(42, 512), cutter({ partial: false }), drawerPins([5], 'low'), codePages({ cp437: 0, cp858: 19 }, 'cp858'));
    expect(m).toMatchObject({ columns: 42, dots: 512, cutter: { partial: false, feed: 0 }, drawer: { pins: [5], openWhen: 'low' }, defaultCodePage: 'cp858', qr: false });
    expect(() => codePages({ cp437: 0 }, 'cp858')).toThrow();
  });
  it('builder emits only style changes and a tear feed on models without a cutter', () => {
    const b = new EscPosBuilder(MODELS['generic-58']).init().line('a', { bold: true }).line('b', { bold: true }).cut().build();
    expect(hex(b)).toBe('1b40' + '1b7413' + '1b4501' + '610a' + '620a' + '1b6404');
  });
  it('builder refuses a drawer pin the model does not have, and CODE128 wider than the head', () => {
    expect(() => new EscPosBuilder(MODELS['generic-58']).drawerKick(2)).toThrow(/no drawer/);
    expect(() => new EscPosBuilder(MODELS['generic-80']).drawerKick(5)).toThrow(/no drawer pin 5/);
    expect(() => new EscPosBuilder(MODELS['generic-58']).code128('x'.repeat(40))).toThrow(/does not fit/);
  });
});

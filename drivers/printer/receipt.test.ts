import { describe, expect, it } from 'vitest';
import { SimPrinter } from '../sim/printer.ts';
import { EscPosTokenizer } from '../sim/printer-escpos.ts';
import { MODELS } from './models.ts';
import { formatAmount, formatMoney, formatRate, renderKitchenTicket, renderReceipt, saleIdDigits, saleIdFromDigits } from './receipt.ts';
import { SALE_ID, sampleSale } from './testing.ts';
import { connect } from 'node:net';

async function printOnSim(data: Buffer, columns: number): Promise<SimPrinter> {
  const sim = await new SimPrinter({ columns }).start();
  const done = new Promise((r) => sim.once('receipt', r));
  const s = connect(sim.port, '127.0.0.1');
  s.write(data);
  await done;
  s.destroy();
  await sim.stop();
  return sim;
}

describe('money formatting from integer minor units', () => {
  it('never goes through a float', () => {
    expect(formatAmount(931, 'EUR')).toBe('9.31');
    expect(formatAmount(5, 'EUR')).toBe('0.05');
    expect(formatAmount(-1069, 'EUR', { decimalSeparator: ',' })).toBe('-10,69');
    expect(formatAmount(Number.MAX_SAFE_INTEGER, 'EUR')).toBe('90071992547409.91');
    expect(formatAmount(1234, 'JPY')).toBe('1234');
    expect(formatAmount(1234, 'KWD')).toBe('1.234');
    expect(formatMoney(931, 'EUR')).toBe('€9.31');
    expect(formatMoney(931, 'CHF')).toBe('CHF 9.31');
    expect(() => formatAmount(1.5, 'EUR')).toThrow(RangeError);
    expect(formatRate(1900)).toBe('19%');
    expect(formatRate(750, ',')).toBe('7,5%');
  });
  it('sale ids round-trip through the 40-digit CODE128 set C form', () => {
    expect(saleIdDigits(SALE_ID)).toHaveLength(40);
    expect(saleIdFromDigits(saleIdDigits(SALE_ID))).toBe(SALE_ID);
  });
});

describe('receipt rendering, read back by the simulator', () => {
  it('prints header, lines, totals, tenders, change, tax summary and the sale id QR on a TM-T88', async () => {
    const data = renderReceipt(MODELS['epson-tm-t88'], sampleSale(), { store: { name: 'Corner Shop', lines: ['1 Main St'], footer: ['Thank you!'] }, kickDrawer: 2 });
    const sim = await printOnSim(data, 42);
    const r = sim.completeReceipts()[0]!;
    const text = sim.renderText(r);
    expect(text).toContain('CORNER SHOP');
    expect(text).toMatch(/Café crème\s+3\.20 A/);
    expect(text).toMatch(/3 x 1\.29\s+3\.87 B/);
    expect(text).toMatch(/0\.750 kg x 2\.99\/kg\s+2\.24 A/);
    expect(text).toMatch(/TOTAL\s+€9\.31/);
    expect(text).toMatch(/Cash\s+20\.00/);
    expect(text).toMatch(/Change\s+10\.69/);
    expect(text).toMatch(/A\s+7%\s+5\.08\s+0\.36\s+5\.44/);
    expect(text).toMatch(/B\s+19%\s+3\.25\s+0\.62\s+3\.87/);
    expect(r.elements).toContainEqual({ kind: 'qr', data: SALE_ID });
    expect(r.elements).toContainEqual({ kind: 'drawer', pin: 2, onMs: 100 });
    expect(r.end).toBe('partial-cut');
    const total = r.elements.find((e) => e.kind === 'text' && e.text.startsWith('TOTAL'));
    expect(total).toMatchObject({ bold: true, height: 2 });
    // Every printed line fits the paper.
    for (const e of r.elements) if (e.kind === 'text') expect(e.text.length * e.width).toBeLessThanOrEqual(42);
  });

  it('prints a CODE128 of the sale id on a 80 mm printer without QR, and the euro sign through CP858', async () => {
    const model = { ...MODELS['generic-80'], qr: false };
    const data = renderReceipt(model, sampleSale(), { store: { name: 'Shop' }, saleCode: 'code128' });
    expect(data.includes(Buffer.from([0xd5]))).toBe(true); // € in CP858
    const sim = await printOnSim(data, 48);
    const r = sim.completeReceipts()[0]!;
    const bc = r.elements.find((e) => e.kind === 'barcode');
    expect(bc).toMatchObject({ symbology: 'CODE128' });
    expect(saleIdFromDigits((bc as { data: string }).data)).toBe(SALE_ID);
  });

  it('a 58 mm printer without a cutter gets 32-column lines and a tear feed', () => {
    const data = renderReceipt(MODELS['generic-58'], sampleSale(), { store: { name: 'Kiosk' } });
    const lines: string[] = [];
    let cur = '';
    new EscPosTokenizer((t) => {
      if (t.name === 'text') cur += t.bytes.toString('latin1');
      if (t.name === 'LF') lines.push(cur), (cur = '');
    }).push(data);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(32);
    expect(data.subarray(-3).toString('hex')).toBe('1b6404');
  });

  it('kitchen ticket: order number huge, lines grouped, notes under their line', async () => {
    const data = renderKitchenTicket(MODELS['epson-tm-t20'], {
      order: '42',
      station: 'Grill',
      lines: [
        { name: 'Burger', qty: 2, group: 'mains', notes: ['no onions'] },
        { name: 'Soup', qty: 1, group: 'starters' },
        { name: 'Fries', qty: 2, group: 'mains' },
      ],
      note: 'Allergy: nuts',
    });
    const sim = await printOnSim(data, 48);
    const text = sim.lastReceiptText().toLowerCase();
    expect(sim.lastReceipt()!.elements[0]).toMatchObject({ kind: 'text', text: '42', width: 3, height: 3, align: 'center' });
    expect(text.indexOf('mains')).toBeLessThan(text.indexOf('2 x fries'));
    expect(text.indexOf('2 x burger')).toBeLessThan(text.indexOf('> no onions'));
    expect(text.indexOf('> no onions')).toBeLessThan(text.indexOf('starters'));
    expect(text).toContain('allergy: nuts');
  });
});

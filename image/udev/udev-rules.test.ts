import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hex4, VENDOR_TABLE } from '../../contract/devices/vendors.ts';
import { udevRules } from './rules.ts';

// Syntax sanity for the udev rules (udev(7) "Rules files"): every line is a
// comment, blank, or comma-separated KEY op "value" pairs with match keys
// using ==/!= and assignment keys using =/+=/-=/:=. udevadm is not installed
// here, so this catches the typos that would make udev skip a line silently.

const text = readFileSync(new URL('./60-tillbox-peripherals.rules', import.meta.url), 'utf8');
const MATCH =
  /^(ACTION|DEVPATH|KERNEL|NAME|SYMLINK|SUBSYSTEM|DRIVER|ATTR\{[^}]+\}|SYSCTL\{[^}]+\}|KERNELS|SUBSYSTEMS|DRIVERS|ATTRS\{[^}]+\}|TAGS|TAG|ENV\{[^}]+\}|CONST\{[^}]+\}|TEST(\{[0-7]+\})?|PROGRAM|RESULT)$/;
const ASSIGN = /^(NAME|SYMLINK|OWNER|GROUP|MODE|SECLABEL\{[^}]+\}|ATTR\{[^}]+\}|SYSCTL\{[^}]+\}|ENV\{[^}]+\}|TAG|RUN(\{[a-z]+\})?|LABEL|GOTO|IMPORT\{[a-z]+\}|OPTIONS|PROGRAM)$/;

function pairs(line: string): { key: string; op: string; value: string }[] {
  const out: { key: string; op: string; value: string }[] = [];
  const re = /\s*([A-Z]+(?:\{[^}]*\})?)\s*(==|!=|\+=|-=|:=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;
  let m: RegExpExecArray | null;
  while (re.lastIndex < line.length && (m = re.exec(line))) out.push({ key: m[1]!, op: m[2]!, value: m[3]! });
  if (re.lastIndex !== line.length) throw new Error(`unparsable at column ${re.lastIndex}: ${line}`);
  return out;
}

describe('udev rules', () => {
  it('are exactly what image/udev/rules.ts generates from the one vendor table (regenerate: node image/udev/rules.ts > image/udev/60-tillbox-peripherals.rules)', () => {
    expect(text).toBe(udevRules());
  });
  const rules = text.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  it('every rule line parses into KEY op "value" pairs with the right operator class', () => {
    for (const line of rules) {
      const ps = pairs(line);
      expect(ps.length, line).toBeGreaterThan(0);
      for (const p of ps) {
        if (p.op === '==' || p.op === '!=') expect(p.key, line).toMatch(MATCH);
        else expect(p.key, line).toMatch(ASSIGN);
      }
    }
  });
  it('every GOTO has its LABEL', () => {
    const labels = new Set(
      rules.flatMap((l) =>
        pairs(l)
          .filter((p) => p.key === 'LABEL')
          .map((p) => p.value),
      ),
    );
    for (const g of rules.flatMap((l) => pairs(l).filter((p) => p.key === 'GOTO'))) expect(labels.has(g.value)).toBe(true);
  });
  it('covers the common POS vendors, group tillbox-devices (the devices service), never world-writable, ModemManager ignored on serial', () => {
    for (const v of VENDOR_TABLE) expect(text).toContain(`"${hex4(v.vendorId)}"`);
    for (const line of rules) {
      const ps = pairs(line);
      const mode = ps.find((p) => p.key === 'MODE');
      if (mode) expect(mode.value).toMatch(/^0[0-7][0-7]0$/);
      if (ps.some((p) => p.key === 'GROUP')) expect(ps.find((p) => p.key === 'GROUP')!.value).toBe('tillbox-devices');
      if (ps.some((p) => p.key === 'SUBSYSTEM' && p.value === 'tty')) expect(ps).toContainEqual({ key: 'ENV{ID_MM_DEVICE_IGNORE}', op: '=', value: '1' });
      // by-id symlinks come from 60-serial.rules; a NAME= would break them.
      expect(ps.some((p) => p.key === 'NAME' && p.op !== '==')).toBe(false);
    }
  });
});

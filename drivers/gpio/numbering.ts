// BCM pin number -> kernel GPIO number. Since Linux 6.6 the Raspberry Pi's
// main gpiochip no longer starts at 0 (the sysfs base is 512 on Pi 4, 571 on
// a Pi 5's RP1), so "GPIO 17" is line 529 there. We read every
// /sys/class/gpio/gpiochip*/{base,label} and pick the SoC's controller by
// label instead of assuming a number. The sysfs root is injectable for tests.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface GpioChip {
  name: string;
  base: number;
  ngpio: number;
  label: string;
}

/** Labels of the Raspberry Pi SoC GPIO controllers (Pi 1-3, Pi 4, Pi 5). */
const PI_LABELS = /^pinctrl-(bcm2835|bcm2711|bcm2712|rp1)$/;

export async function listGpioChips(sysfsRoot = '/sys'): Promise<GpioChip[]> {
  const dir = join(sysfsRoot, 'class', 'gpio');
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.startsWith('gpiochip'));
  } catch {
    return [];
  }
  const chips: GpioChip[] = [];
  for (const name of names) {
    try {
      const read = (f: string) => readFile(join(dir, name, f), 'utf8').then((s) => s.trim());
      const [base, ngpio, label] = await Promise.all([read('base'), read('ngpio').catch(() => '0'), read('label')]);
      chips.push({ name, base: Number(base), ngpio: Number(ngpio), label });
    } catch {
      // A chip without readable attributes is skipped, not fatal.
    }
  }
  return chips.sort((a, b) => a.base - b.base);
}

export type BcmResolution = { ok: true; line: number; chip: GpioChip } | { ok: false; reason: string };

/** Resolves a BCM number on the SoC controller; falls back to the chip at base 0 on non-Pi boards. */
export async function resolveBcm(bcm: number, sysfsRoot = '/sys'): Promise<BcmResolution> {
  if (!Number.isInteger(bcm) || bcm < 0) return { ok: false, reason: `invalid BCM number ${bcm}` };
  const chips = await listGpioChips(sysfsRoot);
  if (chips.length === 0) return { ok: false, reason: `no GPIO controller under ${join(sysfsRoot, 'class', 'gpio')}` };
  const chip = chips.find((c) => PI_LABELS.test(c.label)) ?? chips.find((c) => c.base === 0);
  if (!chip) return { ok: false, reason: `no Raspberry Pi GPIO controller among ${chips.map((c) => `${c.name}(${c.label})`).join(', ')}` };
  if (chip.ngpio > 0 && bcm >= chip.ngpio) return { ok: false, reason: `BCM ${bcm} is beyond ${chip.label} (${chip.ngpio} lines)` };
  return { ok: true, line: chip.base + bcm, chip };
}

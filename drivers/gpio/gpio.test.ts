import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GpioDrawer } from '../drawer/gpio-drawer.ts';
import { onoffBinding } from './binding.ts';
import { DebouncedInput } from './debounce.ts';
import { FakeGpioBinding } from './fake-binding.ts';
import { openInput, openLine, openStatusLed } from './index.ts';
import { LED_PATTERNS, PatternPlayer } from './led.ts';
import { resolveBcm } from './numbering.ts';
import type { DrawerStatus } from '../../contract/devices/drawer.ts';

const dirs: string[] = [];
async function sysfs(chips: { name: string; base: number; ngpio: number; label: string }[]): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'tillbox-sysfs-'));
  dirs.push(root);
  for (const c of chips) {
    const d = join(root, 'class', 'gpio', c.name);
    await mkdir(d, { recursive: true });
    await writeFile(join(d, 'base'), `${c.base}\n`);
    await writeFile(join(d, 'ngpio'), `${c.ngpio}\n`);
    await writeFile(join(d, 'label'), `${c.label}\n`);
  }
  return root;
}
afterEach(async () => {
  vi.useRealTimers();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('BCM numbering (Raspberry Pi kernel >= 6.6)', () => {
  it('Pi 4 on 6.6: SoC chip at base 512, BCM 17 is line 529', async () => {
    const root = await sysfs([
      { name: 'gpiochip512', base: 512, ngpio: 58, label: 'pinctrl-bcm2711' },
      { name: 'gpiochip570', base: 570, ngpio: 8, label: 'raspberrypi-exp-gpio' },
    ]);
    expect(await resolveBcm(17, root)).toMatchObject({ ok: true, line: 529 });
  });
  it('Pi 5 on 6.6: RP1 at base 571 is found by label, not by being first', async () => {
    const root = await sysfs([
      { name: 'gpiochip512', base: 512, ngpio: 32, label: 'gpio-brcmstb@107d508500' },
      { name: 'gpiochip571', base: 571, ngpio: 54, label: 'pinctrl-rp1' },
    ]);
    expect(await resolveBcm(17, root)).toMatchObject({ ok: true, line: 588 });
  });
  it('older kernels: base 0', async () => {
    expect(await resolveBcm(4, await sysfs([{ name: 'gpiochip0', base: 0, ngpio: 54, label: 'pinctrl-bcm2835' }]))).toMatchObject({ ok: true, line: 4 });
  });
  it('no GPIO at all, or a pin beyond the chip, is a reason, not an exception', async () => {
    expect(await resolveBcm(17, await sysfs([]))).toMatchObject({ ok: false });
    expect(await resolveBcm(60, await sysfs([{ name: 'gpiochip512', base: 512, ngpio: 58, label: 'pinctrl-bcm2711' }]))).toMatchObject({ ok: false, reason: /beyond/ });
  });
  it('this machine (no GPIO): onoff loads and reports not accessible; opening reports unavailable', async () => {
    const binding = onoffBinding();
    expect(binding.accessible).toBe(false);
    expect(await openLine({ binding }, 17, 'out')).toMatchObject({ available: false });
    expect(await openStatusLed({ binding: new FakeGpioBinding(), sysfsRoot: await sysfs([]) }, 17)).toMatchObject({ available: false, reason: /no GPIO controller/ });
  });
});

describe('status LED patterns', () => {
  it('online steady, offline slow blink, backlog fast blink (fake clock)', () => {
    vi.useFakeTimers();
    const levels: number[] = [];
    const p = new PatternPlayer({ line: { write: async (v) => void levels.push(v) }, timers: { setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) } });
    p.play('online');
    vi.advanceTimersByTime(5000);
    expect(levels).toEqual([1]);
    levels.length = 0;
    p.play('offline');
    vi.advanceTimersByTime(3999);
    expect(levels).toEqual([1, 0, 1, 0]); // 1 s on, 1 s off
    levels.length = 0;
    p.play('backlog');
    vi.advanceTimersByTime(399);
    expect(levels).toEqual([1, 0, 1, 0]); // 100 ms steps
    p.play('backlog'); // same pattern again does not restart it
    expect(levels).toHaveLength(4);
    p.stop();
    vi.advanceTimersByTime(1000);
    expect(levels).toHaveLength(4);
    expect(() => p.play('disco')).toThrow(/unknown LED pattern/);
    expect(LED_PATTERNS.offline[0]).toEqual([1, 1000]);
  });
  it('opens on a fake Pi 4 and drives the resolved line', async () => {
    const binding = new FakeGpioBinding();
    const root = await sysfs([{ name: 'gpiochip512', base: 512, ngpio: 58, label: 'pinctrl-bcm2711' }]);
    const led = await openStatusLed({ binding, sysfsRoot: root }, 18);
    expect(led).toMatchObject({ available: true, line: 530 });
    if (led.available) led.value.play('online');
    await Promise.resolve();
    expect(binding.level(530)).toBe(1);
  });
});

describe('debounced input and GPIO drawer', () => {
  it('a bouncing contact reports one change after it settles', async () => {
    vi.useFakeTimers();
    const binding = new FakeGpioBinding();
    const root = await sysfs([{ name: 'gpiochip512', base: 512, ngpio: 58, label: 'pinctrl-bcm2711' }]);
    const input = await openInput({ binding, sysfsRoot: root, timers: { setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) } }, 27, 30);
    if (!input.available) throw new Error(input.reason);
    const changes: number[] = [];
    input.value.on('change', (v) => changes.push(v));
    await input.value.start();
    for (const v of [1, 0, 1, 0, 1] as const) {
      binding.drive(539, v);
      vi.advanceTimersByTime(5);
    }
    expect(changes).toEqual([]);
    vi.advanceTimersByTime(30);
    expect(changes).toEqual([1]);
    binding.drive(539, 0);
    binding.drive(539, 1); // a glitch shorter than the debounce time
    vi.advanceTimersByTime(100);
    expect(changes).toEqual([1]);
    input.value.stop();
  });

  it('GPIO drawer: pulse on the solenoid line, sensor status open/closed, no overlapping pulses', async () => {
    vi.useFakeTimers();
    const timers = { setTimeout: (f: () => void, ms: number) => setTimeout(f, ms), clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout) };
    const binding = new FakeGpioBinding();
    const solenoid = binding.open(600, 'low');
    const sensorLine = binding.open(601, 'in', 'both');
    const sensor = new DebouncedInput({ line: sensorLine, debounceMs: 20, timers });
    const drawer = new GpioDrawer({ solenoid, sensor, timers });
    const statuses: DrawerStatus['drawer'][] = [];
    drawer.on('status', (s) => statuses.push(s.drawer));
    await drawer.start();
    const opening = drawer.open({ pulseMs: 150 });
    await vi.advanceTimersByTimeAsync(0);
    expect(binding.level(600)).toBe(1);
    expect(await drawer.open()).toEqual({ pulsed: false, drawer: 'closed' });
    await vi.advanceTimersByTimeAsync(150);
    expect(await opening).toEqual({ pulsed: true, drawer: 'closed' });
    expect(binding.writes.filter(([l]) => l === 600).map(([, v]) => v)).toEqual([0, 1, 0]);
    binding.drive(601, 1);
    await vi.advanceTimersByTimeAsync(25);
    binding.drive(601, 0);
    await vi.advanceTimersByTimeAsync(25);
    expect(statuses).toEqual(['closed', 'open', 'closed']);
    drawer.stop();
  });
});

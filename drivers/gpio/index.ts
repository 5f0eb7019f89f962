// GPIO for the box: a status LED and inputs by BCM number. Absence of GPIO
// (no controller, no permission, no addon) comes back as { available: false,
// reason } for the devices process to publish — never an exception.
import type { Logger } from 'pino';
import type { GpioBinding, GpioLine } from './binding.ts';
import { DebouncedInput } from './debounce.ts';
import { PatternPlayer } from './led.ts';
import { resolveBcm } from './numbering.ts';
import type { Timers } from './timers.ts';

export { onoffBinding, type GpioBinding, type GpioLine, type Level } from './binding.ts';
export { DebouncedInput } from './debounce.ts';
export { LED_PATTERNS, PatternPlayer, type LedPatternName } from './led.ts';
export { listGpioChips, resolveBcm } from './numbering.ts';

export interface GpioContext {
  binding: GpioBinding;
  /** Default /sys; tests pass a temp dir shaped like it. */
  sysfsRoot?: string;
  timers?: Timers;
  logger?: Logger;
}

export type GpioOpen<T> = { available: true; value: T; line: number } | { available: false; reason: string };

export async function openLine(ctx: GpioContext, bcm: number, direction: 'in' | 'out', edge: 'none' | 'both' = 'none'): Promise<GpioOpen<GpioLine>> {
  if (!ctx.binding.accessible) return { available: false, reason: 'GPIO not accessible on this machine (no controller or no permission)' };
  const r = await resolveBcm(bcm, ctx.sysfsRoot);
  if (!r.ok) return { available: false, reason: r.reason };
  try {
    return { available: true, value: ctx.binding.open(r.line, direction === 'out' ? 'low' : 'in', edge), line: r.line };
  } catch (err) {
    return { available: false, reason: `cannot open GPIO ${r.line} (BCM ${bcm}): ${err instanceof Error ? err.message : String(err)}` };
  }
}

export async function openStatusLed(ctx: GpioContext, bcm: number): Promise<GpioOpen<PatternPlayer>> {
  const l = await openLine(ctx, bcm, 'out');
  if (!l.available) return l;
  const opts: ConstructorParameters<typeof PatternPlayer>[0] = { line: l.value, onError: (err) => ctx.logger?.warn({ err }, 'status LED write failed') };
  if (ctx.timers) opts.timers = ctx.timers;
  return { available: true, value: new PatternPlayer(opts), line: l.line };
}

export async function openInput(ctx: GpioContext, bcm: number, debounceMs = 30): Promise<GpioOpen<DebouncedInput>> {
  const l = await openLine(ctx, bcm, 'in', 'both');
  if (!l.available) return l;
  const opts: ConstructorParameters<typeof DebouncedInput>[0] = { line: l.value, debounceMs };
  if (ctx.timers) opts.timers = ctx.timers;
  return { available: true, value: new DebouncedInput(opts), line: l.line };
}

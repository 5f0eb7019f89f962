// The injected GPIO binding (STYLE.md item 1): the drivers below talk to this
// interface only. Production passes onoffBinding() (sysfs through `onoff`);
// tests pass FakeGpioBinding, a sysfs-like in-memory stand-in. GPIO is
// optional on a box: a binding that is not accessible is reported, never fatal.
import { createRequire } from 'node:module';

export type Level = 0 | 1;
export type Edge = 'none' | 'rising' | 'falling' | 'both';

export interface GpioLine {
  read(): Promise<Level>;
  write(v: Level): Promise<void>;
  /** Edge callback (only for inputs opened with an edge). */
  watch(cb: (err: Error | null | undefined, v: Level) => void): void;
  unwatchAll(): void;
  unexport(): void;
}

export interface GpioBinding {
  /** False when the machine has no GPIO (or no permission): report it, do not crash. */
  readonly accessible: boolean;
  /** `line` is the kernel (sysfs) number: resolve BCM numbers with numbering.ts first. */
  open(line: number, direction: 'in' | 'out' | 'high' | 'low', edge?: Edge): GpioLine;
}

interface OnoffGpioClass {
  new (gpio: number, direction: string, edge?: string, options?: { debounceTimeout?: number; activeLow?: boolean }): GpioLine;
  accessible: boolean;
}

/** onoff's Gpio, loaded lazily so a box without the addon (or without GPIO) still starts. */
export function onoffBinding(): GpioBinding {
  let Gpio: OnoffGpioClass | undefined;
  let loadError: Error | undefined;
  try {
    Gpio = (createRequire(import.meta.url)('onoff') as { Gpio: OnoffGpioClass }).Gpio;
  } catch (err) {
    loadError = err instanceof Error ? err : new Error(String(err));
  }
  return {
    accessible: Gpio?.accessible === true,
    open(line, direction, edge) {
      if (!Gpio) throw new Error(`onoff unavailable: ${loadError?.message ?? 'not loaded'}`);
      return new Gpio(line, direction, edge ?? 'none');
    },
  };
}

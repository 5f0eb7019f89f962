// The peripherals list as the devices process uses it; its cross-field rules
// live in appliance/config/peripherals.ts (run by every config load).
import { ConfigError } from '../config/index.ts';
import { checkPeripherals, type PeripheralEntry } from '../config/peripherals.ts';
import type { PeripheralSpec } from './runner.ts';

export { checkPeripherals, type PeripheralEntry };

/** Throws a ConfigError listing every problem. */
export function assertPeripherals(list: readonly PeripheralEntry[], source = 'config'): void {
  const issues = checkPeripherals(list);
  if (issues.length) throw new ConfigError(source, issues);
}

export function specFromConfig(p: PeripheralEntry): PeripheralSpec {
  const options: Record<string, unknown> = {};
  for (const k of ['model', 'mode', 'printer', 'pin'] as const) if (p[k] !== undefined) options[k] = p[k];
  const spec: PeripheralSpec = { id: p.id, kind: p.kind, uri: p.uri ?? `printer://${p.printer}`, source: 'config', options };
  if (p.protocol) spec.protocol = p.protocol;
  if (p.model) spec.model = p.model;
  return spec;
}

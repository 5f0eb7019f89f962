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
  // Every kind-specific field is an option of the runner; which ones a kind has is the schema's business.
  const { id, kind, uri, enabled: _enabled, ...options } = p;
  const spec: PeripheralSpec = { id, kind, uri: uri ?? `printer://${p.kind === 'drawer' ? p.printer : ''}`, source: 'config', options };
  if ('protocol' in p && p.protocol) spec.protocol = p.protocol;
  if ('model' in p && p.model) spec.model = p.model;
  return spec;
}

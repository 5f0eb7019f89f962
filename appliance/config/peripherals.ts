// Cross-field rules of the `peripherals` config list that JSON Schema cannot
// say: unique ids, the URI fully parsed by drivers/transports/uri.ts, a
// drawer's printer exists, the reserved id `host`. Every issue names its
// field path (e.g. `peripherals.2.uri`), like the schema's own errors.
// validateConfig runs these, so `tillbox config check` reports them too.
import { parseUri } from '../../drivers/transports/uri.ts';
import { HOST_PERIPHERAL_ID } from '../../contract/devices-host.ts';
import type { Config } from './schema.ts';
import type { ConfigIssue } from './errors.ts';

export type PeripheralEntry = Config['peripherals'][number];

export function checkPeripherals(list: readonly PeripheralEntry[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const firstIndex = new Map<string, number>();
  list.forEach((p, i) => {
    const at = `peripherals.${i}`;
    if (p.id === HOST_PERIPHERAL_ID) issues.push({ path: `${at}.id`, message: `"${HOST_PERIPHERAL_ID}" is reserved for the devices process itself` });
    const seen = firstIndex.get(p.id);
    if (seen !== undefined) issues.push({ path: `${at}.id`, message: `duplicate id ${JSON.stringify(p.id)} (also peripherals.${seen}.id)` });
    else firstIndex.set(p.id, i);
    if (p.uri !== undefined) {
      try {
        parseUri(p.uri);
      } catch (err) {
        issues.push({ path: `${at}.uri`, message: (err as Error).message });
      }
    } else if (!(p.kind === 'drawer' && p.printer)) {
      issues.push({ path: `${at}.uri`, message: p.kind === 'drawer' ? 'is required (or `printer` for a drawer on a printer kick connector)' : 'is required' });
    }
    if (p.kind === 'drawer' && p.printer !== undefined) {
      const target = list.find((q) => q.id === p.printer);
      if (target?.kind !== 'printer') issues.push({ path: `${at}.printer`, message: `${JSON.stringify(p.printer)} is not a configured printer` });
    }
    if (p.kind !== 'drawer' && (p.printer !== undefined || p.pin !== undefined)) issues.push({ path: `${at}.${p.printer !== undefined ? 'printer' : 'pin'}`, message: 'only for kind drawer' });
    if (p.mode !== undefined && p.kind !== 'scanner') issues.push({ path: `${at}.mode`, message: 'only for kind scanner' });
  });
  return issues;
}

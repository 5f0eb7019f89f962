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
    } else if (p.kind === 'drawer' && p.printer === undefined) {
      // The schema requires a uri of every other kind.
      issues.push({ path: `${at}.uri`, message: 'is required (or `printer` for a drawer on a printer kick connector)' });
    }
    if (p.kind === 'drawer') {
      if (p.printer !== undefined && p.uri !== undefined) issues.push({ path: `${at}.printer`, message: 'a drawer has either a uri or a printer, not both' });
      if (p.printer !== undefined && list.find((q) => q.id === p.printer)?.kind !== 'printer') {
        issues.push({ path: `${at}.printer`, message: `${JSON.stringify(p.printer)} is not a configured printer` });
      }
    }
  });
  return issues;
}

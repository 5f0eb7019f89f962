// Every change tillbox makes to how aedes behaves inside, in one place, for
// the exact versions below. An upgrade of aedes or mqtt-packet must come with
// a look at each patch, so start-up refuses other versions instead of letting
// an upgrade silently undo a fix (issue 9 §5).
//
//   ordered-delivery.ts   deliveries in broker-counter order (moscajs/aedes#994)
//   puback-after-store.ts PUBACK only once the message is stored (§4.3.2);
//                         Session Present from all session state [MQTT-3.2.2-2]
//   conformance.ts        QoS downgraded to the matching subscriptions' grant
//                         [MQTT-3.8.4-6, MQTT-3.3.5-1]; retained replays never
//                         after a newer live message; zero-byte client ids
//                         [MQTT-3.1.3-6..8]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PINNED = { aedes: '1.2.0', 'aedes-persistence': '11.0.0', 'aedes-persistence-level': '9.2.0', 'mqtt-packet': '9.0.2' } as const;

/** Throws if an installed version differs from the one the patches were written for. */
export function assertPinnedVersions(): void {
  const wrong = Object.entries(PINNED).filter(([name, v]) => installedVersion(name) !== v);
  if (wrong.length > 0) {
    throw new Error(
      `the broker's aedes patches are for ${wrong.map(([n, v]) => `${n} ${v}`).join(', ')}; found ${wrong.map(([n]) => `${n} ${installedVersion(n)}`).join(', ')}: review appliance/broker/aedes-patches before upgrading`,
    );
  }
}

/** The version of the copy aedes itself loads (mqtt-packet is aedes' dependency, not ours). */
function installedVersion(name: string): string {
  const fromAedes = createRequire(fileURLToPath(import.meta.resolve('aedes')));
  let entry: string;
  try {
    entry = name === 'aedes' ? fileURLToPath(import.meta.resolve('aedes')) : fromAedes.resolve(name);
  } catch {
    return 'missing';
  }
  // package.json is not in every package's exports: walk up from the entry file.
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === name) return pkg.version ?? 'unknown';
    } catch {
      // no package.json here
    }
  }
  return 'unknown';
}

export { installOrderedDelivery, type GateableBroker } from './ordered-delivery.ts';
export { holdPubacks, onConnackSessionState } from './puback-after-store.ts';
export { ConformanceHooks } from './conformance.ts';

import { areaFilter, filterCovered, topicFilter, topicMatches, type TopicName } from './topics.ts';

// Who may publish and subscribe to what on the local broker. Data, not code,
// so the broker, the docs and the tests read the same table. Every grant names
// a template of contract/topics.ts TOPIC: the topic itself (`'deviceCommand'`:
// store/S/devices/+/cmd/+) or its subtree from a depth (`['posEvent', 3]`:
// store/S/pos/#), so the ACLs follow the topic layout instead of repeating it.
export const ROLES = ['core', 'devices', 'flows', 'kiosk', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** A contract topic, or the subtree of its first N levels. */
export type Grant = TopicName | readonly [TopicName, number];

export interface RoleAcl {
  publish: readonly Grant[];
  subscribe: readonly Grant[];
  /** Denied even when an allow rule matches (checked first). */
  denyPublish?: readonly Grant[];
  /**
   * May be given to anonymous loopback clients (mqtt.anonymousRole). Only a
   * role that can neither publish POS events nor read the whole broker.
   */
  anonymous?: boolean;
}

const STORE: Grant = ['posEvent', 2]; // store/{storeId}/#
const POS: Grant = ['posEvent', 3]; // store/{storeId}/pos/#
const DEVICES: Grant = ['deviceEvent', 3]; // store/{storeId}/devices/#
const BOX: Grant = ['boxStatus', 3]; // store/{storeId}/box/#

export const ACL: Record<Role, RoleAcl> = {
  // core owns the POS topics and box status; it listens to device events.
  core: {
    publish: [STORE, ['fleetStatus', 1]],
    subscribe: [STORE],
  },
  // devices publish peripheral state/events and command replies; they take commands.
  devices: {
    publish: [DEVICES],
    denyPublish: ['deviceCommand'],
    subscribe: [['deviceCommand', 5], POS, BOX],
  },
  // flows (integrator code) read the store, send device commands, publish their own topics,
  // and may never forge POS events.
  flows: {
    publish: ['deviceCommand', 'flows', 'cloudOut'],
    denyPublish: [POS],
    subscribe: [STORE],
  },
  // kiosks (browser tills) read POS and device events and may send device commands.
  kiosk: {
    anonymous: true,
    publish: ['deviceCommand'],
    denyPublish: [POS],
    subscribe: [POS, DEVICES, BOX],
  },
  // admin: troubleshooting with full read; writes everything but POS events.
  admin: {
    publish: [STORE],
    denyPublish: [POS],
    subscribe: [['posEvent', 0]],
  },
};

/** One role's grants as filters for one store. */
export interface RoleFilters {
  publish: string[];
  subscribe: string[];
  denyPublish: string[];
}

function filterOf(g: Grant, storeId: string): string {
  return typeof g === 'string' ? topicFilter(g, { storeId }) : areaFilter(g[0], g[1], { storeId });
}

// Per store id (one on a box; a few in tests): the filters are checked on every publish.
const cache = new Map<string, Record<Role, RoleFilters>>();

/** The ACL of every role as MQTT filters for `storeId` (what the broker enforces, and the docs show). */
export function aclFilters(storeId: string): Record<Role, RoleFilters> {
  let f = cache.get(storeId);
  if (!f) {
    f = Object.fromEntries(
      ROLES.map((r) => [
        r,
        {
          publish: ACL[r].publish.map((g) => filterOf(g, storeId)),
          subscribe: ACL[r].subscribe.map((g) => filterOf(g, storeId)),
          denyPublish: (ACL[r].denyPublish ?? []).map((g) => filterOf(g, storeId)),
        },
      ]),
    ) as Record<Role, RoleFilters>;
    if (cache.size > 16) cache.clear();
    cache.set(storeId, f);
  }
  return f;
}

export function mayPublish(role: Role, storeId: string, topic: string): boolean {
  const acl = aclFilters(storeId)[role];
  if (acl.denyPublish.some((f) => topicMatches(f, topic))) return false;
  return acl.publish.some((f) => topicMatches(f, topic));
}

export function maySubscribe(role: Role, storeId: string, filter: string): boolean {
  return aclFilters(storeId)[role].subscribe.some((allowed) => filterCovered(allowed, filter));
}

/** Roles an anonymous loopback client may get (config mqtt.anonymousRole accepts only these). */
export const ANONYMOUS_ROLES = ROLES.filter((r) => ACL[r].anonymous === true && !mayPublish(r, 'any', 'store/any/pos/sale'));

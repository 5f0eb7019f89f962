import { filterCovered, topicMatches } from './topics.ts';

// Who may publish and subscribe to what on the local broker. Data, not code,
// so the broker, the docs and the tests read the same table.
export const ROLES = ['core', 'devices', 'flows', 'kiosk', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface RoleAcl {
  publish: readonly string[];
  subscribe: readonly string[];
  /** Filters that are denied even when an allow rule matches (checked first). */
  denyPublish?: readonly string[];
  /**
   * May be given to anonymous loopback clients (mqtt.anonymousRole). Only a
   * role that can neither publish POS events nor read the whole broker.
   */
  anonymous?: boolean;
}

/** `{storeId}` is substituted with the box's store id. */
export const ACL: Record<Role, RoleAcl> = {
  // core owns the POS topics and box status; it listens to device events.
  core: {
    publish: ['store/{storeId}/#', 'fleet/#'],
    subscribe: ['store/{storeId}/#'],
  },
  // devices publish peripheral state/events and command replies; they take commands.
  devices: {
    publish: ['store/{storeId}/devices/#'],
    denyPublish: ['store/{storeId}/devices/+/cmd/+'],
    subscribe: ['store/{storeId}/devices/+/cmd/#', 'store/{storeId}/pos/#', 'store/{storeId}/box/#'],
  },
  // flows (integrator code) read the store, send device commands, publish their own topics,
  // and may never forge POS events.
  flows: {
    publish: ['store/{storeId}/devices/+/cmd/+', 'store/{storeId}/flows/#', 'store/{storeId}/cloud/#'],
    denyPublish: ['store/{storeId}/pos/#'],
    subscribe: ['store/{storeId}/#'],
  },
  // kiosks (browser tills) read POS and device events and may send device commands.
  kiosk: {
    anonymous: true,
    publish: ['store/{storeId}/devices/+/cmd/+'],
    denyPublish: ['store/{storeId}/pos/#'],
    subscribe: ['store/{storeId}/pos/#', 'store/{storeId}/devices/#', 'store/{storeId}/box/#'],
  },
  // admin: troubleshooting with full read; writes everything but POS events.
  admin: {
    publish: ['store/{storeId}/#'],
    denyPublish: ['store/{storeId}/pos/#'],
    subscribe: ['#'],
  },
};

function expand(filters: readonly string[] | undefined, storeId: string): string[] {
  return (filters ?? []).map((f) => f.replaceAll('{storeId}', storeId));
}

export function mayPublish(role: Role, storeId: string, topic: string): boolean {
  const acl = ACL[role];
  if (expand(acl.denyPublish, storeId).some((f) => topicMatches(f, topic))) return false;
  return expand(acl.publish, storeId).some((f) => topicMatches(f, topic));
}

export function maySubscribe(role: Role, storeId: string, filter: string): boolean {
  return expand(ACL[role].subscribe, storeId).some((allowed) => filterCovered(allowed, filter));
}

/** Roles an anonymous loopback client may get (config mqtt.anonymousRole accepts only these). */
export const ANONYMOUS_ROLES = ROLES.filter((r) => ACL[r].anonymous === true && !mayPublish(r, 'any', 'store/any/pos/sale'));

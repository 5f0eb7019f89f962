// The MQTT topic contract, v1. The only interface between tillbox processes,
// and the same one integrators and kiosks see. Every topic string in the code
// base is built here; nothing else concatenates topic segments.

/** Characters MQTT treats specially, plus '/', are not allowed in ids. */
const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function isValidId(id: string): boolean {
  return ID.test(id);
}

function seg(kind: string, value: string): string {
  if (!isValidId(value)) throw new TypeError(`invalid ${kind} for a topic: ${JSON.stringify(value)}`);
  return value;
}

/** Local broker topics (store/{storeId}/...). */
export const localTopics = {
  /** POS event after commit; only core publishes here. */
  posEvent: (storeId: string, eventType: string) => `store/${seg('storeId', storeId)}/pos/${seg('eventType', eventType)}`,
  posEvents: (storeId: string) => `store/${seg('storeId', storeId)}/pos/#`,
  /** Retained birth/death of a peripheral. */
  deviceState: (storeId: string, peripheralId: string) => `store/${seg('storeId', storeId)}/devices/${seg('peripheralId', peripheralId)}/state`,
  deviceEvent: (storeId: string, peripheralId: string, event: string) => `store/${seg('storeId', storeId)}/devices/${seg('peripheralId', peripheralId)}/${seg('event', event)}`,
  deviceCommand: (storeId: string, peripheralId: string, command: string) => `store/${seg('storeId', storeId)}/devices/${seg('peripheralId', peripheralId)}/cmd/${seg('command', command)}`,
  deviceCommandReply: (storeId: string, peripheralId: string, command: string) => `store/${seg('storeId', storeId)}/devices/${seg('peripheralId', peripheralId)}/cmd/${seg('command', command)}/reply`,
  flows: (storeId: string, rest: string) => `store/${seg('storeId', storeId)}/flows/${rest}`,
  /** Box-level status published by core (retained). */
  boxStatus: (storeId: string) => `store/${seg('storeId', storeId)}/box/status`,
} as const;

/** Cloud broker topics. */
export const cloudTopics = {
  events: (deviceId: string) => `tillbox/v1/${seg('deviceId', deviceId)}/events`,
  acks: (deviceId: string) => `tillbox/v1/${seg('deviceId', deviceId)}/acks`,
  catalog: (deviceId: string) => `tillbox/v1/${seg('deviceId', deviceId)}/catalog`,
  catalogResync: (deviceId: string) => `tillbox/v1/${seg('deviceId', deviceId)}/catalog/resync`,
  conflicts: (deviceId: string) => `tillbox/v1/${seg('deviceId', deviceId)}/conflicts`,
  loss: (deviceId: string) => `tillbox/v1/${seg('deviceId', deviceId)}/loss`,
  commandReply: (deviceId: string, command: string) => `tillbox/v1/${seg('deviceId', deviceId)}/cmd/${seg('command', command)}/reply`,
  /** HQ ingest workers share this subscription (MQTT 5 shared subscriptions, §4.8.2). */
  sharedEvents: (group: string) => `$share/${seg('group', group)}/tillbox/v1/+/events`,
  command: (deviceId: string, command: string) => `tillbox/v1/${seg('deviceId', deviceId)}/cmd/${seg('command', command)}`,
  fleetStatus: (deviceId: string) => `fleet/${seg('deviceId', deviceId)}/status`,
  fleetHealth: (deviceId: string) => `fleet/${seg('deviceId', deviceId)}/health`,
  fleetDeviceState: (deviceId: string, peripheralId: string) => `fleet/${seg('deviceId', deviceId)}/devices/${seg('peripheralId', peripheralId)}/state`,
} as const;

/**
 * MQTT topic filter matching (`+` one level, `#` the rest). Used for ACLs, so
 * it follows MQTT 3.1.1 §4.7 exactly, including "sport/#" matching "sport".
 */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const part = f[i];
    if (part === '#') return true;
    if (i >= t.length) return false;
    if (part !== '+' && part !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * Whether every topic a subscription filter can match is covered by an
 * allowed filter. Conservative: a wildcard subscription is allowed only when
 * one allowed filter is at least as broad at each level.
 */
export function filterCovered(allowed: string, requested: string): boolean {
  const a = allowed.split('/');
  const r = requested.split('/');
  for (let i = 0; i < a.length; i++) {
    const part = a[i];
    if (part === '#') return true;
    if (i >= r.length) return false;
    const req = r[i];
    if (req === '#') return false;
    if (part === '+') continue;
    if (req === '+' || part !== req) return false;
  }
  return a.length === r.length;
}

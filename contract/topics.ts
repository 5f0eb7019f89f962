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

/**
 * Every topic of the contract, once, as a template. `{name}` is one level,
 * `{name+}` one or more levels (integrator subtopics). Builders, filters and
 * parsers below are derived from this table, and so are the role ACLs
 * (contract/roles.ts) and what the Node-RED nodes offer.
 */
export const TOPIC = {
  // Local broker (store/{storeId}/...)
  /** POS event after commit; only core publishes here. */
  posEvent: 'store/{storeId}/pos/{eventType}',
  /** Retained birth/death of a peripheral (and of the devices host itself, id `host`). */
  deviceState: 'store/{storeId}/devices/{peripheralId}/state',
  deviceEvent: 'store/{storeId}/devices/{peripheralId}/{event}',
  deviceCommand: 'store/{storeId}/devices/{peripheralId}/cmd/{command}',
  deviceCommandReply: 'store/{storeId}/devices/{peripheralId}/cmd/{command}/reply',
  /** Integrator topics (flows role). */
  flows: 'store/{storeId}/flows/{rest+}',
  /** Integrator messages for HQ, forwarded by the cloud bridge's mapped topics. */
  cloudOut: 'store/{storeId}/cloud/{rest+}',
  /** Box-level status published by core (retained). */
  boxStatus: 'store/{storeId}/box/status',
  // Cloud broker
  events: 'tillbox/v1/{deviceId}/events',
  acks: 'tillbox/v1/{deviceId}/acks',
  catalog: 'tillbox/v1/{deviceId}/catalog',
  catalogResync: 'tillbox/v1/{deviceId}/catalog/resync',
  conflicts: 'tillbox/v1/{deviceId}/conflicts',
  loss: 'tillbox/v1/{deviceId}/loss',
  command: 'tillbox/v1/{deviceId}/cmd/{command}',
  commandReply: 'tillbox/v1/{deviceId}/cmd/{command}/reply',
  fleetStatus: 'fleet/{deviceId}/status',
  fleetHealth: 'fleet/{deviceId}/health',
  fleetDeviceState: 'fleet/{deviceId}/devices/{peripheralId}/state',
} as const;
export type TopicName = keyof typeof TOPIC;
export type TopicParams = Record<string, string>;

interface Level {
  literal?: string;
  param?: string;
  rest?: boolean;
}

const compiled = new Map<TopicName, Level[]>();
function levels(name: TopicName): Level[] {
  let l = compiled.get(name);
  if (!l) {
    l = TOPIC[name].split('/').map((part) => {
      const m = /^\{(\w+)(\+?)\}$/.exec(part);
      return m ? { param: m[1]!, rest: m[2] === '+' } : { literal: part };
    });
    compiled.set(name, l);
  }
  return l;
}

/** The topic `name` with every parameter filled in (each level checked: no '/', '+', '#' or NUL). */
export function buildTopic(name: TopicName, params: TopicParams): string {
  return levels(name)
    .map((l) => {
      if (l.literal !== undefined) return l.literal;
      const v = params[l.param!];
      if (v === undefined) throw new TypeError(`topic ${name} needs ${l.param}`);
      if (l.rest)
        return v
          .split('/')
          .map((p) => seg(l.param!, p))
          .join('/');
      return seg(l.param!, v);
    })
    .join('/');
}

/** A subscription filter for `name`: missing parameters match anything ('+', or '#' for a {rest+}). */
export function topicFilter(name: TopicName, params: TopicParams = {}): string {
  return levels(name)
    .map((l) => {
      if (l.literal !== undefined) return l.literal;
      const v = params[l.param!];
      if (v === undefined || v === '+' || v === '#') return l.rest ? '#' : '+';
      return l.rest
        ? v
            .split('/')
            .map((p) => seg(l.param!, p))
            .join('/')
        : seg(l.param!, v);
    })
    .join('/');
}

/**
 * The subtree of a template: its first `depth` levels (parameters given, or
 * '+') followed by '#'. `areaFilter('posEvent', 3, { storeId })` is
 * `store/S/pos/#`. Role ACLs (contract/roles.ts) are written this way, so a
 * change of the layout in TOPIC moves the ACLs with it.
 */
export function areaFilter(name: TopicName, depth: number, params: TopicParams = {}): string {
  const ls = levels(name);
  if (!Number.isInteger(depth) || depth < 0 || depth > ls.length) throw new RangeError(`topic ${name} has no area of depth ${depth}`);
  const head = topicFilter(name, params).split('/').slice(0, depth);
  return [...head, '#'].join('/');
}

/** The parameters of `topic` if it is an instance of `name` (and matches the given ones), else undefined. */
export function parseTopic(name: TopicName, topic: string, expect: TopicParams = {}): TopicParams | undefined {
  const ls = levels(name);
  const parts = topic.split('/');
  const out: TopicParams = {};
  for (let i = 0; i < ls.length; i++) {
    const l = ls[i]!;
    if (l.literal !== undefined) {
      if (parts[i] !== l.literal) return undefined;
      continue;
    }
    if (l.rest) {
      if (i >= parts.length) return undefined;
      out[l.param!] = parts.slice(i).join('/');
      return matches(out, expect);
    }
    const v = parts[i];
    if (v === undefined || v === '') return undefined;
    out[l.param!] = v;
  }
  return parts.length === ls.length ? matches(out, expect) : undefined;
}

function matches(out: TopicParams, expect: TopicParams): TopicParams | undefined {
  for (const [k, v] of Object.entries(expect)) if (out[k] !== v) return undefined;
  return out;
}

/** Local broker topics (store/{storeId}/...): builders over TOPIC. */
export const localTopics = {
  posEvent: (storeId: string, eventType: string) => buildTopic('posEvent', { storeId, eventType }),
  posEvents: (storeId: string) => topicFilter('posEvent', { storeId }),
  deviceState: (storeId: string, peripheralId: string) => buildTopic('deviceState', { storeId, peripheralId }),
  deviceEvent: (storeId: string, peripheralId: string, event: string) => buildTopic('deviceEvent', { storeId, peripheralId, event }),
  deviceCommand: (storeId: string, peripheralId: string, command: string) => buildTopic('deviceCommand', { storeId, peripheralId, command }),
  deviceCommandReply: (storeId: string, peripheralId: string, command: string) => buildTopic('deviceCommandReply', { storeId, peripheralId, command }),
  flows: (storeId: string, rest: string) => buildTopic('flows', { storeId, rest }),
  boxStatus: (storeId: string) => buildTopic('boxStatus', { storeId }),
} as const;

/** Cloud broker topics: builders over TOPIC. */
export const cloudTopics = {
  events: (deviceId: string) => buildTopic('events', { deviceId }),
  acks: (deviceId: string) => buildTopic('acks', { deviceId }),
  catalog: (deviceId: string) => buildTopic('catalog', { deviceId }),
  catalogResync: (deviceId: string) => buildTopic('catalogResync', { deviceId }),
  conflicts: (deviceId: string) => buildTopic('conflicts', { deviceId }),
  loss: (deviceId: string) => buildTopic('loss', { deviceId }),
  commandReply: (deviceId: string, command: string) => buildTopic('commandReply', { deviceId, command }),
  /** HQ ingest workers share this subscription (MQTT 5 shared subscriptions, §4.8.2). */
  sharedEvents: (group: string) => `$share/${seg('group', group)}/${topicFilter('events')}`,
  command: (deviceId: string, command: string) => buildTopic('command', { deviceId, command }),
  fleetStatus: (deviceId: string) => buildTopic('fleetStatus', { deviceId }),
  fleetHealth: (deviceId: string) => buildTopic('fleetHealth', { deviceId }),
  fleetDeviceState: (deviceId: string, peripheralId: string) => buildTopic('fleetDeviceState', { deviceId, peripheralId }),
  /** The prefix of every tillbox/v1 topic of one device (a reply topic must stay inside it). */
  deviceNamespace: (deviceId: string) => `tillbox/v1/${seg('deviceId', deviceId)}/`,
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

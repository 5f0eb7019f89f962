import { ErrorCode, TillboxError } from '../../contract/errors.ts';
import { existsSync, readFileSync, mkdirSync } from 'node:fs';
import { writeFileAtomic } from '../../lib/atomic-file.ts';
import { dirname, join, resolve } from 'node:path';

// Store flows: a base set (flows/store/base.json) plus a per-store overlay
// (flows/store/overlays/<storeId>.json), merged and deployed at every start of
// the flows process. Store-owned nodes carry ids starting with `tbx-` and sit
// on locked tabs; deploying replaces exactly those and keeps everything an
// integrator added in the editor.
//
// Overlay format (version 1):
//   { "version": 1, "store": "berlin-01", "revision": 3, "base": 1,
//     "env":    { "<tab id>": { "NAME": value, ... } },   tab env variables (routing tables, thresholds)
//     "set":    { "<node id>": { "prop": value } },        node properties (e.g. an inject node's crontab)
//     "remove": [ "<node id>" ],                           nodes (a removed tab takes its nodes along)
//     "add":    [ { "id": "tbx-...", ... } ] }             extra nodes; ids must start with tbx-

export const STORE_DIR = import.meta.dirname;
export const STORE_ID_PREFIX = 'tbx-';

export interface FlowNode {
  id: string;
  type: string;
  z?: string;
  [key: string]: unknown;
}

export interface BaseFlows {
  version: number;
  name?: string;
  flows: FlowNode[];
}

export interface Overlay {
  version: 1;
  store: string;
  /** The overlay's own revision, bumped on every change. */
  revision: number;
  /** Base version this overlay was written against; a different major base is refused. */
  base: number;
  env?: Record<string, Record<string, unknown>>;
  set?: Record<string, Record<string, unknown>>;
  remove?: string[];
  add?: FlowNode[];
}

export interface MergedStoreFlows {
  /** e.g. `base 1 + demo-store r2`. */
  version: string;
  flows: FlowNode[];
}

export class StoreFlowsError extends TillboxError {
  constructor(message: string) {
    super(ErrorCode.ConfigInvalid, message);
    this.name = 'StoreFlowsError';
  }
}

export function readBase(file = join(STORE_DIR, 'base.json')): BaseFlows {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as BaseFlows;
  if (!Number.isInteger(doc.version) || !Array.isArray(doc.flows)) throw new StoreFlowsError(`${file}: expected { version, flows: [...] }`);
  return doc;
}

export function readOverlay(file: string): Overlay {
  let doc: Overlay;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8')) as Overlay;
  } catch (err) {
    throw new StoreFlowsError(`${file}: ${(err as Error).message}`);
  }
  const problems: string[] = [];
  if (doc.version !== 1) problems.push('version must be 1');
  if (typeof doc.store !== 'string' || doc.store === '') problems.push('store is required');
  if (!Number.isInteger(doc.revision) || doc.revision < 0) problems.push('revision must be an integer >= 0');
  if (!Number.isInteger(doc.base)) problems.push('base (the base version it was written for) is required');
  for (const key of Object.keys(doc)) if (!['version', 'store', 'revision', 'base', 'env', 'set', 'remove', 'add', 'description'].includes(key)) problems.push(`unknown key ${key}`);
  if (problems.length) throw new StoreFlowsError(`${file}: ${problems.join('; ')}`);
  return doc;
}

/** The overlay file for a store: configured, or overlays/<storeId>.json when it exists. */
export function overlayFileFor(storeId: string, configured?: string): string | undefined {
  if (configured) return resolve(configured);
  const f = join(STORE_DIR, 'overlays', `${storeId}.json`);
  return existsSync(f) ? f : undefined;
}

/** Merges an overlay over the base. Pure: returns new node objects. */
export function mergeStoreFlows(base: BaseFlows, overlay?: Overlay): MergedStoreFlows {
  const nodes = new Map<string, FlowNode>();
  for (const n of base.flows) {
    if (!n.id.startsWith(STORE_ID_PREFIX)) throw new StoreFlowsError(`base node ${n.id}: store node ids start with ${STORE_ID_PREFIX}`);
    nodes.set(n.id, structuredClone(n));
  }
  if (overlay) {
    if (overlay.base !== base.version) throw new StoreFlowsError(`overlay for ${overlay.store} was written for base ${overlay.base}, this is base ${base.version}: update the overlay`);
    for (const id of overlay.remove ?? []) {
      if (!nodes.delete(id)) throw new StoreFlowsError(`overlay remove: no node ${id}`);
      for (const [other, n] of nodes) if (n.z === id) nodes.delete(other);
    }
    for (const n of overlay.add ?? []) {
      if (typeof n.id !== 'string' || !n.id.startsWith(STORE_ID_PREFIX)) throw new StoreFlowsError(`overlay add: node ids start with ${STORE_ID_PREFIX} (got ${String(n.id)})`);
      if (nodes.has(n.id)) throw new StoreFlowsError(`overlay add: ${n.id} exists in the base (use set)`);
      nodes.set(n.id, structuredClone(n));
    }
    for (const [id, props] of Object.entries(overlay.set ?? {})) {
      const n = nodes.get(id);
      if (!n) throw new StoreFlowsError(`overlay set: no node ${id}`);
      for (const key of ['id', 'type', 'z']) if (key in props) throw new StoreFlowsError(`overlay set ${id}: ${key} cannot be changed`);
      Object.assign(n, structuredClone(props));
    }
    for (const [tabId, vars] of Object.entries(overlay.env ?? {})) {
      const tab = nodes.get(tabId);
      if (tab?.type !== 'tab') throw new StoreFlowsError(`overlay env: no tab ${tabId}`);
      const env = Array.isArray(tab.env) ? (tab.env as Array<{ name: string; type: string; value: string }>) : [];
      for (const [name, value] of Object.entries(vars)) {
        const entry = envEntry(name, value);
        const i = env.findIndex((e) => e.name === name);
        if (i >= 0) env[i] = entry;
        else env.push(entry);
      }
      tab.env = env;
    }
  }
  const version = overlay ? `base ${base.version} + ${overlay.store} r${overlay.revision}` : `base ${base.version}`;
  for (const n of nodes.values()) {
    if (n.type !== 'tab') continue;
    // Store tabs are read-only in the editor: change them through the overlay.
    n.locked = true;
    n.info = `${typeof n.info === 'string' && n.info ? n.info.replace(/\n*Store flows: .*$/s, '') + '\n\n' : ''}Store flows: ${version}. Managed by tillbox (flows/store); edit the store overlay, not this tab.`;
  }
  return { version, flows: [...nodes.values()] };
}

function envEntry(name: string, value: unknown): { name: string; type: string; value: string } {
  if (typeof value === 'number') return { name, type: 'num', value: String(value) };
  if (typeof value === 'boolean') return { name, type: 'bool', value: String(value) };
  if (typeof value === 'string') return { name, type: 'str', value };
  return { name, type: 'json', value: JSON.stringify(value) };
}

/**
 * Replaces the store-owned nodes in a flows file with `merged`, keeping every
 * other node; writes atomically. Returns the number of integrator nodes kept.
 */
export async function deployStoreFlows(flowFile: string, merged: MergedStoreFlows): Promise<{ kept: number }> {
  let existing: FlowNode[] = [];
  if (existsSync(flowFile)) {
    const doc = JSON.parse(readFileSync(flowFile, 'utf8')) as unknown;
    // Node-RED also writes { rev, flows } when versioned; accept both.
    existing = Array.isArray(doc) ? (doc as FlowNode[]) : ((doc as { flows?: FlowNode[] }).flows ?? []);
  }
  const storeTabs = new Set(existing.filter((n) => n.type === 'tab' && n.id.startsWith(STORE_ID_PREFIX)).map((n) => n.id));
  const kept = existing.filter((n) => !n.id.startsWith(STORE_ID_PREFIX) && !(n.z && storeTabs.has(n.z)));
  const out = [...merged.flows, ...kept];
  mkdirSync(dirname(flowFile), { recursive: true, mode: 0o700 });
  // Durable: the file also holds the integrators' own flows (`kept`); an old or empty one after a power cut loses their work.
  await writeFileAtomic(flowFile, JSON.stringify(out, null, 2) + '\n', { durability: 'durable', mode: 0o600 });
  return { kept: kept.length };
}

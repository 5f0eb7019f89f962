import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createRequire, registerHooks } from 'node:module';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer as createHttpServer } from '../lib/node-http.ts';
import { buildSettings, flowFileOf, userDirOf, type FlowsOptions } from './settings.ts';
import { deployStoreFlows, mergeStoreFlows, overlayFileFor, readBase, readOverlay, StoreFlowsError } from './store/merge.ts';

// Embeds Node-RED (RED.init + RED.start on our own HTTP(S) server, one
// runtime per process: Node-RED's runtime is a module singleton, which is one
// more reason flows is a process of its own).

const require = createRequire(import.meta.url);

export interface StartFlowsOptions extends FlowsOptions {
  /** Deploy the store flows (base + overlay) before starting (default true). */
  storeFlows?: boolean;
  /** Overlay file; default flows/store/overlays/<storeId>.json when present. */
  overlayFile?: string;
}

export interface FlowsRuntime {
  url: string;
  host: string;
  port: number;
  /** e.g. `base 1 + demo-store r1`, or undefined when store flows were not deployed. */
  storeFlowsVersion: string | undefined;
  /** Why the store flows were not (re)deployed; the previous flows file was kept. */
  storeFlowsError: string | undefined;
  stop(): Promise<void>;
}

interface NodeRed {
  init(server: Server, settings: Record<string, unknown>): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  httpAdmin: (req: unknown, res: unknown, next: unknown) => void;
  events: NodeJS.EventEmitter;
}

/** Loads Node-RED's modules (no I/O, no timers): the slow part of a start, which may go first. */
export function loadNodeRed(): NodeRed {
  deferNodeRedModules();
  return require('node-red') as NodeRed;
}

/**
 * Node-RED modules whose start-up cost is deferred to first use (issue 14):
 * the require of `specifier` from `parent`, and only that one, gets the lazy
 * stand-in. Written for the exact versions below, like the aedes patches:
 * another version refuses to start until the stand-in is reviewed.
 * - the JSON node compiles two JSON Schema meta schemas when Node-RED
 *   registers it (~135 ms of CPU in a flows profile): flows/lazy-ajv.cjs;
 * - @node-red/util loads moment and its zone table for $moment and date
 *   formatting: flows/lazy-moment.cjs.
 */
const DEFERRED = [
  { package: '@node-red/nodes', version: '5.0.7', parent: '/@node-red/nodes/core/parsers/70-JSON.js', specifier: 'ajv', standIn: 'lazy-ajv.cjs' },
  { package: '@node-red/util', version: '5.0.7', parent: '/@node-red/util/lib/util.js', specifier: 'moment-timezone', standIn: 'lazy-moment.cjs' },
] as const;
let deferred = false;

export function deferNodeRedModules(): void {
  if (deferred) return;
  deferred = true;
  const nodeRedRequire = createRequire(require.resolve('node-red'));
  const redirects = new Map<string, { parent: string; url: string }>();
  for (const d of DEFERRED) {
    const version = (nodeRedRequire(`${d.package}/package.json`) as { version: string }).version;
    if (version !== d.version) throw new Error(`flows/${d.standIn} is for ${d.package} ${d.version}, found ${version}: review it before upgrading`);
    redirects.set(d.specifier, { parent: d.parent, url: pathToFileURL(resolvePath(import.meta.dirname, d.standIn)).href });
  }
  registerHooks({
    resolve(specifier, context, next) {
      const r = redirects.get(specifier);
      if (r && context.parentURL?.endsWith(r.parent)) return { url: r.url, format: 'commonjs', shortCircuit: true };
      return next(specifier, context);
    },
  });
}

export async function startFlows(o: StartFlowsOptions): Promise<FlowsRuntime> {
  const settings = buildSettings(o);
  mkdirSync(userDirOf(o.stateDir), { recursive: true, mode: 0o700 });

  let storeFlowsVersion: string | undefined;
  let storeFlowsError: string | undefined;
  if (o.storeFlows !== false) {
    // A broken overlay must not take the flows down: the flows deployed last
    // time stay as they are, and the error is reported.
    try {
      const overlayFile = overlayFileFor(o.storeId, o.overlayFile);
      const merged = mergeStoreFlows(readBase(), overlayFile ? readOverlay(overlayFile) : undefined);
      await deployStoreFlows(flowFileOf(o.stateDir), merged);
      storeFlowsVersion = merged.version;
    } catch (err) {
      if (!(err instanceof StoreFlowsError || err instanceof SyntaxError)) throw err;
      storeFlowsError = err.message;
    }
  }

  const RED = loadNodeRed();
  // express comes with node-red; take node-red's copy.
  const express = createRequire(require.resolve('node-red'))('express') as () => ((...a: unknown[]) => void) & { use(...a: unknown[]): void; disable(s: string): void };
  const app = express();
  app.disable('x-powered-by');
  const server = o.tls ? createHttpsServer({ key: o.tls.key, cert: o.tls.cert }, app as never) : createHttpServer(app as never);

  const started = new Promise<void>((resolve) => RED.events.once('flows:started', () => resolve()));

  RED.init(server, settings);
  pinTelemetryOff(o.hardened);
  app.use('/auth/token', loginLockoutAs429);
  app.use('/', RED.httpAdmin);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await RED.start();
  await started;
  const port = (server.address() as AddressInfo).port;
  const url = `${o.tls ? 'https' : 'http'}://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}/`;

  let stopping: Promise<void> | undefined;
  return {
    url,
    host: o.host,
    port,
    storeFlowsVersion,
    storeFlowsError,
    stop() {
      stopping ??= (async () => {
        await RED.stop();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      })();
      return stopping;
    },
  };
}

/**
 * `telemetry.enabled: false` in the settings is not the last word: an editor
 * user can opt in from the settings panel (POST /settings/user
 * telemetryEnabled), which schedules a daily call to nodered.org. The box
 * never phones home, so in hardened mode the opt-in does nothing.
 */
function pinTelemetryOff(hardened: boolean): void {
  if (!hardened) return;
  const nodeRedRequire = createRequire(require.resolve('node-red'));
  const runtimeRequire = createRequire(nodeRedRequire.resolve('@node-red/runtime'));
  const telemetry = runtimeRequire('./telemetry/index.js') as { enable?: () => void; isEnabled?: () => unknown };
  if (typeof telemetry.enable !== 'function') throw new Error('Node-RED telemetry module changed: review flows/runtime.ts pinTelemetryOff');
  telemetry.enable = () => {};
  telemetry.isEnabled = () => false;
}

/** Node-RED's own login lockout window (editor-api auth/strategies.js loginSignInWindow). */
const LOCKOUT_RETRY_AFTER_S = 600;

/**
 * Node-RED answers a locked-out login (more than 5 failures in 10 minutes)
 * with a 500, as if it had broken. Say what it is: 429 Too Many Requests with
 * Retry-After, as a problem document (issue 9).
 */
function loginLockoutAs429(_req: unknown, res: import('node:http').ServerResponse, next: () => void): void {
  const end = res.end.bind(res) as (...a: unknown[]) => import('node:http').ServerResponse;
  (res as unknown as { end: (...a: unknown[]) => unknown }).end = (chunk?: unknown, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString() : '';
    if (!res.headersSent && res.statusCode === 500 && /Too many login attempts/.test(text)) {
      const body = JSON.stringify({
        type: 'urn:tillbox:problem:too-many-login-attempts',
        title: 'Too Many Requests',
        status: 429,
        detail: `too many failed logins for this user; try again in ${LOCKOUT_RETRY_AFTER_S / 60} minutes`,
        code: 'TB_FLOWS_LOGIN_LOCKED',
      });
      res.statusCode = 429;
      res.setHeader('retry-after', String(LOCKOUT_RETRY_AFTER_S));
      res.setHeader('content-type', 'application/problem+json');
      res.setHeader('content-length', Buffer.byteLength(body));
      return end(body);
    }
    return end(chunk, ...rest);
  };
  next();
}

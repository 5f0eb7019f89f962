import { ErrorCode, TillboxError } from '../contract/errors.ts';
import { join, resolve } from 'node:path';

// Node-RED settings for the flows process, built from a plain options object
// the CLI layer fills in (flows/ never reads appliance/ internals). Hardened
// means: the editor always asks for the per-device admin login, nothing is
// installed at runtime (palette manager, npm, function-node modules), no
// node that runs shell commands or touches files, no phoning home, and
// synchronous function code cannot spin for ever.

export const NODES_DIR = resolve(import.meta.dirname, 'nodes');
export const TILLBOX_NODES_PACKAGE = '@tillbox/node-red-nodes';

export interface FlowsOptions {
  /** The box's state dir; Node-RED's userDir is `<stateDir>/flows`. */
  stateDir: string;
  /** Editor bind address: loopback by default; any other needs `tls`. */
  host: string;
  port: number;
  hardened: boolean;
  /** PEM key and certificate for the editor on the LAN. */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Per-device admin login (bcrypt hash) and flows credential key. */
  admin: { username: string; passwordHash: string };
  credentialSecret: string;
  /** Core's broker and the flows-role account. */
  broker: { url: string; username: string; password: string; clientId?: string };
  storeId: string;
  /** Synchronous function-node code running longer than this is stopped (0: never). */
  functionTimeoutSec: number;
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'off';
}

export class FlowsConfigError extends TillboxError {
  constructor(message: string) {
    super(ErrorCode.ConfigInvalid, message);
    this.name = 'FlowsConfigError';
  }
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Core nodes the hardened palette leaves out, and why (issue 9 review):
 * - exec, file, watch: run programs and read or write files (the permission
 *   model refuses them anyway; leaving them out gives a clear palette).
 * - tcp in/out/request, udp: listen on or send to arbitrary LAN ports; a
 *   printer is reached through `tillbox print`, which queues and confirms.
 * - websocket: serves endpoints on the editor's server next to the admin API.
 * Kept, on purpose: http request (webhooks, a kitchen display, a store
 * system) and mqtt (bridging to another broker) are what integrators need;
 * neither can reach anything on the box without a credential, and the flows
 * role's own credential cannot publish POS events.
 */
export const HARDENED_EXCLUDED_NODES = ['90-exec.js', '10-file.js', '23-watch.js', '31-tcpin.js', '32-udp.js', '22-websocket.js'] as const;

export function userDirOf(stateDir: string): string {
  return join(stateDir, 'flows');
}

/** The flows file: fixed name, never derived from the hostname (Node-RED's default `flows_<hostname>.json`). */
export function flowFileOf(stateDir: string): string {
  return join(userDirOf(stateDir), 'flows.json');
}

export function checkOptions(o: FlowsOptions): void {
  if (!isLoopbackHost(o.host) && !o.tls) {
    throw new FlowsConfigError(`flows.host ${o.host} is not loopback: the editor is served on the LAN only over TLS (set flows.lanTls.certFile and flows.lanTls.keyFile)`);
  }
  if (!o.admin.passwordHash.startsWith('$2')) throw new FlowsConfigError('the Node-RED admin password must be a bcrypt hash');
  if (o.credentialSecret.length < 32) throw new FlowsConfigError('credentialSecret is too short');
}

/** Node-RED's settings object (see node_modules/node-red/settings.js for every key). */
export function buildSettings(o: FlowsOptions): Record<string, unknown> {
  checkOptions(o);
  const hardened = o.hardened;
  return {
    userDir: userDirOf(o.stateDir),
    flowFile: flowFileOf(o.stateDir),
    flowFilePretty: true,
    credentialSecret: o.credentialSecret,
    nodesDir: [NODES_DIR],
    httpAdminRoot: '/',
    // http-in nodes would serve on the editor's port without the admin login: off.
    httpNodeRoot: false,
    requireHttps: o.tls !== undefined,
    adminAuth: {
      type: 'credentials',
      sessionExpiryTime: 8 * 3600,
      users: [{ username: o.admin.username, password: o.admin.passwordHash, permissions: '*' }],
      // No `default` user: anonymous visitors get nothing, not even read access.
    },
    apiMaxLength: '5mb',
    // Telemetry and update checks would call nodered.org; the box does not phone home.
    telemetry: { enabled: false, updateNotification: false },
    diagnostics: { enabled: false, ui: false },
    runtimeState: { enabled: false, ui: false },
    externalModules: hardened
      ? {
          autoInstall: false,
          autoInstallRetry: 0,
          // Only the tillbox package loads, even if a module is dropped into userDir/node_modules.
          palette: { allowInstall: false, allowUpdate: false, allowUpload: false, allowList: [TILLBOX_NODES_PACKAGE], denyList: ['*'] },
          modules: { allowInstall: false, allowList: [], denyList: ['*'] },
        }
      : { autoInstall: false, palette: { allowInstall: false, allowUpload: false }, modules: { allowInstall: false } },
    functionExternalModules: false,
    functionGlobalContext: {},
    globalFunctionTimeout: o.functionTimeoutSec,
    nodesExcludes: hardened ? [...HARDENED_EXCLUDED_NODES] : [],
    contextStorage: { default: { module: 'localfilesystem' }, memory: { module: 'memory' } },
    exportGlobalContextKeys: false,
    debugMaxLength: 1000,
    logging: { console: { level: o.logLevel ?? 'info', metrics: false, audit: false } },
    editorTheme: {
      page: { title: 'tillbox flows' },
      header: { title: 'tillbox flows' },
      palette: { catalogues: [] },
      projects: { enabled: false },
      multiplayer: { enabled: false },
      tours: false,
      codeEditor: { lib: 'monaco' },
    },
    // Read by the tillbox-broker config node; never exported to the editor.
    tillbox: {
      storeId: o.storeId,
      broker: o.broker,
    },
  };
}

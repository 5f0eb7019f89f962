import { registerHooks } from 'node:module';

// What the flows process closes in itself, on top of Node's permission model
// (--permission with fs read/write limited to its own files; no child
// processes, workers, addons, WASI or inspector: see
// appliance/cli/flows-permissions.ts). Node-RED's function node runs in a vm
// that is not a security boundary (`msg.constructor.constructor('return
// process')()` returns the real process), so integrator code must be assumed
// to hold `process`. The permission model's documented gaps that apply here,
// as measured on Node 24.21:
// - node:sqlite opens and creates database files outside the granted paths
//   (the docs: "such as through the node:sqlite module") -> refused to load;
// - process.kill() reaches any process of the same user, core included ->
//   limited to this process;
// - process.env is readable (env.get) -> secret-looking variables removed;
// - symbolic and hard links to outside paths, process.binding, child_process,
//   worker_threads, addons, WASI and the inspector are already refused
//   (ERR_ACCESS_DENIED), verified by test/flows/containment.test.ts.
// Network access is not part of Node 24's model: a flow can open sockets, but
// holds no credential except the flows role's own (the broker's ACL refuses
// POS topics to it), and the HTTP API needs a till token outside demo mode.

const DENIED_BUILTINS = new Set(['sqlite']);
const SECRET_ENV = /PASSWORD|PASSWD|TOKEN|SECRET|PRIVATE|_KEY$|CREDENTIAL/i;

function denied(specifier: string): Error {
  return Object.assign(new Error(`${specifier} is not available in the flows process`), { code: 'ERR_ACCESS_DENIED' });
}

export interface Containment {
  /** Whether Node's permission model is active in this process. */
  permissionModel: boolean;
  removedEnv: string[];
}

/** Call once, before Node-RED loads any node. */
export function containFlowsProcess(): Containment {
  registerHooks({
    resolve(specifier, context, next) {
      const name = specifier.startsWith('node:') ? specifier.slice(5) : specifier;
      if (DENIED_BUILTINS.has(name)) throw denied(specifier);
      return next(specifier, context);
    },
  });
  const getBuiltin = process.getBuiltinModule.bind(process);
  process.getBuiltinModule = ((id: string) => {
    const name = id.startsWith('node:') ? id.slice(5) : id;
    if (DENIED_BUILTINS.has(name)) throw denied(id);
    return getBuiltin(id);
  }) as typeof process.getBuiltinModule;
  const kill = process.kill.bind(process);
  const ownPid = process.pid;
  process.kill = ((pid: number, signal?: string | number) => {
    // Signal 0 only probes whether a process exists (the flows process checks core is alive).
    if (pid !== ownPid && signal !== 0) throw Object.assign(new Error('the flows process may not signal other processes'), { code: 'ERR_ACCESS_DENIED' });
    return kill(pid, signal);
  }) as typeof process.kill;
  const internal = process as unknown as { _kill?: (pid: number, sig: number) => number };
  if (typeof internal._kill === 'function') {
    const raw = internal._kill.bind(process);
    internal._kill = (pid: number, sig: number) => {
      if (pid !== ownPid && sig !== 0) throw Object.assign(new Error('the flows process may not signal other processes'), { code: 'ERR_ACCESS_DENIED' });
      return raw(pid, sig);
    };
  }
  const removedEnv = Object.keys(process.env).filter((k) => SECRET_ENV.test(k));
  for (const k of removedEnv) delete process.env[k];
  return { permissionModel: process.permission !== undefined, removedEnv };
}

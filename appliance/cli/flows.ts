import { readFileSync } from 'node:fs';
import { setupProcess, STOP_DEADLINE_MS } from './process-setup.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { credentialFile, statePaths } from '../state/state-dir.ts';
import { isAlive, readRuntime, type RuntimeInfo } from '../core/runtime.ts';
import { readFlowsSecrets, type FlowsSecrets } from '../secrets/secrets.ts';
import { spawn } from 'node:child_process';
import { flowsEnv, flowsPermissionArgs } from './flows-permissions.ts';
import { containFlowsProcess } from '../../flows/contain.ts';
import { FlowsConfigError } from '../../flows/settings.ts';

export interface FlowsCliOptions {
  config?: string;
  demo?: boolean;
  stateDir?: string;
}

/** How long the flows process waits for core's broker before giving up (the supervisor restarts it). */
const WAIT_FOR_CORE_MS = 60_000;

/**
 * `tillbox flows`: the flows process (embedded Node-RED with the tillbox nodes
 * and the store flows). This is the CLI layer: it reads the config, core's
 * runtime.json and the secrets, and hands flows/ a plain options object.
 * Nothing secret goes through the environment (function nodes can read
 * process.env through env.get).
 */
export async function runFlows(opts: FlowsCliOptions): Promise<number> {
  const t0 = performance.now();
  const setup = setupProcess(opts);
  if (!setup) return 2;
  const { config, stateDir } = setup;
  const paths = statePaths(stateDir);
  // Before containment removes CREDENTIALS_DIRECTORY with the other secret-looking variables.
  const secretsFile = credentialFile(paths.flowsSecrets);
  if (config.flows.hardened) {
    // Integrator code is untrusted (issue 9): run only under Node's permission model.
    if (!process.permission) return reexecContained(flowsPermissionArgs({ stateDir, configFile: opts.config, config }), flowsEnv(stateDir));
    const c = containFlowsProcess();
    if (process.permission.has('fs.read', paths.secrets) || process.permission.has('fs.write', stateDir)) {
      console.error(`tillbox flows: refusing to run: the permission model grants access to ${paths.secrets} or the whole state dir`);
      return 2;
    }
    // Re-executed by a parent (`tillbox flows` by hand): go when it goes, even if it was SIGKILLed.
    const parent = Number(process.env.TBX_FLOWS_PARENT_PID);
    if (parent > 0) setInterval(() => process.ppid !== parent && process.exit(1), 1000).unref();
    if (c.removedEnv.length > 0) console.error(`tillbox flows: removed secret-looking variables from the environment: ${c.removedEnv.join(', ')}`);
  }

  // Node-RED takes most of this process's start: load it while core starts (issue 14).
  const { startFlows, loadNodeRed } = await import('../../flows/runtime.ts');
  loadNodeRed();
  const rt = await waitForCore(paths.runtime);
  if (!rt?.mqtt.tcp) {
    console.error(`tillbox flows: core is not running (no live ${paths.runtime} with a TCP broker listener after ${WAIT_FOR_CORE_MS / 1000} s)`);
    return 1;
  }
  // Only its own secrets: core writes them at first start (flows-secrets.json).
  let secrets: FlowsSecrets;
  try {
    secrets = readFlowsSecrets(secretsFile);
  } catch (err) {
    console.error(`tillbox flows: cannot read its secrets (core writes ${paths.flowsSecrets} at first start): ${(err as Error).message}`);
    return 1;
  }
  const account = secrets.mqtt;
  const f = config.flows;
  let tls: { key: Buffer; cert: Buffer } | undefined;
  if (f.lanTls.certFile || f.lanTls.keyFile) {
    if (!f.lanTls.certFile || !f.lanTls.keyFile) {
      console.error('flows.lanTls: set both certFile and keyFile');
      return 2;
    }
    try {
      tls = { cert: readFileSync(f.lanTls.certFile), key: readFileSync(f.lanTls.keyFile) };
    } catch (err) {
      console.error(`flows.lanTls: ${(err as Error).message}`);
      return 2;
    }
  }

  let flows: Awaited<ReturnType<typeof startFlows>>;
  try {
    flows = await startFlows({
      stateDir,
      host: f.host,
      port: f.port,
      hardened: f.hardened,
      tls,
      admin: { username: secrets.nodeRed.username, passwordHash: secrets.nodeRed.passwordHash },
      credentialSecret: secrets.nodeRed.credentialSecret,
      broker: { url: `mqtt://${rt.mqtt.tcp.host}:${rt.mqtt.tcp.port}`, username: account.username, password: account.password },
      storeId: rt.storeId,
      functionTimeoutSec: f.functionTimeoutSec,
      overlayFile: f.overlay,
      logLevel: nodeRedLevel(config.log.level),
    });
  } catch (err) {
    if (err instanceof FlowsConfigError) {
      console.error(`tillbox flows: ${err.message}`);
      return 2;
    }
    const resource = (err as { resource?: string }).resource;
    console.error(`tillbox flows: failed to start: ${(err as Error).message}${resource ? ` (${resource})` : ''}`);
    if (process.env.TILLBOX_DEBUG_FLOWS) console.error((err as Error).stack);
    return 1;
  }

  if (flows.storeFlowsError) console.error(`tillbox flows: store flows NOT deployed, the previous flows stay: ${flows.storeFlowsError}`);
  console.log(
    [
      `tillbox flows ready in ${Math.round(performance.now() - t0)} ms${f.hardened ? ' (hardened)' : ''}`,
      `  Node-RED editor ${flows.url}  (login: tillbox secrets show)`,
      `  store ${rt.storeId}, store flows ${flows.storeFlowsVersion ?? 'not deployed'}, broker ${rt.mqtt.tcp.host}:${rt.mqtt.tcp.port} as ${account.username}`,
    ].join('\n'),
  );

  // Core restarted on another broker port (port 0 in tests and demos): start
  // over so the broker settings are read again; the supervisor or systemd restarts us.
  const code = await new Promise<number>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve(0));
    const watch = setInterval(() => {
      const now = readRuntime(paths.runtime);
      if (now && isAlive(now.pid) && now.mqtt.tcp && now.mqtt.tcp.port !== rt.mqtt.tcp!.port) {
        console.error(`tillbox flows: core's broker moved to port ${now.mqtt.tcp.port}; restarting`);
        clearInterval(watch);
        resolve(1);
      }
    }, 1000);
    watch.unref();
  });
  // Bounded like every process (process-setup.ts STOP_DEADLINE_MS): a wedged flow must not hold the stop.
  setTimeout(() => process.exit(code), STOP_DEADLINE_MS).unref();
  await flows.stop();
  // Node-RED keeps a session-expiry timer after a login and offers no way to
  // clear it; once stopped, nothing is left to finish, so do not wait for it.
  setTimeout(() => process.exit(code), 500).unref();
  return code;
}

async function waitForCore(file: string): Promise<RuntimeInfo | undefined> {
  const deadline = Date.now() + WAIT_FOR_CORE_MS;
  let said = false;
  for (;;) {
    const rt = readRuntime(file);
    if (rt && isAlive(rt.pid) && rt.mqtt.tcp) return rt;
    if (Date.now() > deadline) return undefined;
    if (!said) {
      console.log(`tillbox flows: waiting for core (${file})`);
      said = true;
    }
    await sleep(100);
  }
}

function nodeRedLevel(level: string): 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'off' {
  return level === 'silent' ? 'off' : (level as 'info');
}

/**
 * `tillbox flows` started without the permission flags (by hand, or the
 * image's unit through bin/tillbox): run the same command again under them.
 * process.execve replaces this process, so no parent stays behind holding
 * the config stack (~75 MB resident, issue 14) and the pid systemd watches
 * is Node-RED's. Where execve is missing, a child with signals and the exit
 * code passed through.
 */
function reexecContained(permissionArgs: string[], env: Record<string, string>): Promise<number> {
  const args = [...process.execArgv, ...permissionArgs, ...process.argv.slice(1)];
  if (typeof process.execve === 'function') {
    process.execve(process.execPath, [process.execPath, ...args], { ...process.env, ...env });
  }
  const child = spawn(process.execPath, args, { stdio: 'inherit', env: { ...process.env, ...env, TBX_FLOWS_PARENT_PID: String(process.pid) } });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

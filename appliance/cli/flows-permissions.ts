import { existsSync, mkdirSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../config/index.ts';
import { credentialFile, statePaths } from '../state/state-dir.ts';

// The Node permission-model flags the flows process runs under (issue 9 §1).
// One list for every way the process is started: `tillbox start` passes them
// to its child, and `tillbox flows` re-executes itself in place with them
// (process.execve), which is how the image's systemd unit starts it.
//
// Reads: the code it runs (node_modules and the project's source folders, not
// the project root, which may hold a development state dir), its user dir,
// its own secrets file, core's runtime.json, and the config, overlay and TLS
// files the config names. Writes: its user dir only. Not granted: child
// processes, worker threads, addons, WASI, the inspector.

const ROOT = resolve(import.meta.dirname, '../..');
const CODE = ['node_modules', 'appliance', 'contract', 'lib', 'flows', 'drivers', 'package.json'];

/**
 * A code path and, when it is a symlink (a git worktree sharing another
 * checkout's node_modules), its target too: the permission model checks the
 * resolved path a module is loaded from.
 */
function withTarget(p: string): string[] {
  const real = existsSync(p) ? realpathSync(p) : p;
  return real === p ? [p] : [p, real];
}

export function flowsPermissionArgs(opts: { stateDir: string; configFile?: string | undefined; config?: Config | undefined }): string[] {
  const paths = statePaths(resolve(opts.stateDir));
  // Node resolves the granted paths once, at start: a directory that does not
  // exist yet would be granted as a single file, not as a tree.
  mkdirSync(paths.flows, { recursive: true, mode: 0o700 });
  const reads = [
    ...CODE.flatMap((p) => withTarget(resolve(ROOT, p))),
    paths.flows,
    credentialFile(paths.flowsSecrets),
    paths.runtime,
    ...(opts.configFile ? [resolve(opts.configFile)] : []),
    ...[opts.config?.flows.overlay, opts.config?.flows.lanTls.certFile, opts.config?.flows.lanTls.keyFile].filter((p): p is string => !!p).map((p) => resolve(p)),
  ];
  return ['--permission', ...reads.map((p) => `--allow-fs-read=${p}`), `--allow-fs-write=${paths.flows}`];
}

/**
 * Where the flows process keeps Node's compile cache (bytecode of every module
 * it loads, and the TypeScript stripper's output in a checkout): inside its
 * own user dir, the one place it may write. The default (os.tmpdir(), what
 * main.ts's enableCompileCache() picks) is outside the permission model's
 * grants, so flows used to start with no cache at all. Measured in bench/box.ts
 * (restart of a box, the editor answering): see bench/README.md, section box.
 * The cache is the flows process's alone: core and devices never read it, so
 * integrator code that can write there can only slow or break its own process.
 * The image's unit sets the same directory (tillbox-flows.service).
 */
export function flowsCompileCacheDir(stateDir: string): string {
  return join(statePaths(resolve(stateDir)).flows, '.compile-cache');
}

/** The environment the flows process starts with, on top of its parent's: one decision for `tillbox start` and `tillbox flows`. */
export function flowsEnv(stateDir: string): Record<string, string> {
  return { NODE_COMPILE_CACHE: flowsCompileCacheDir(stateDir) };
}

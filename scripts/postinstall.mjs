// Root postinstall: make every native addon loadable by the Node 24 that runs
// the product (plain JS on purpose: it may be started by any Node).
//
// Policy on install scripts (package.json "allowScripts"): dependencies may run
// theirs only when listed. N-API addons with prebuilds (classic-level,
// @serialport/bindings-cpp, node-hid; usb loads its prebuild at run time) are
// allowed: N-API is ABI-stable, so the Node running npm does not matter.
// epoll (under onoff, GPIO) is a NAN addon tied to one Node ABI; its own
// script would compile it against the headers npm is configured with (here
// Node 20's), so it is denied and built below against Node 24's headers, which
// ship in the node-linux-<arch> package.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// `npm ci --cpu=arm64` on an x64 host (the arm64 image build) installs for
// another CPU: the `node` package still links the host's Node and the host's
// compiler would make an x64 epoll, so a cross install leaves epoll to the
// build that asked for it (image/arm64.sh cross-compiles and load-checks it).
const targetCpu = process.env.npm_config_cpu || process.arch;
const nm = join(root, 'node_modules');
const node24 = join(nm, 'node', 'bin', 'node');

function fail(msg) {
  console.error(`tillbox postinstall: ${msg}`);
  process.exitCode = 1;
}

if (!existsSync(node24)) {
  fail('node_modules/node/bin/node is missing: the `node` package (Node 24) did not install. Check that "allowScripts" lets `node` run its preinstall.');
} else {
  const headers = readdirSync(nm)
    .filter((d) => /^node-linux-/.test(d))
    .map((d) => join(nm, d))
    .find((d) => existsSync(join(d, 'include', 'node', 'node.h')));
  const gyp = process.env.npm_execpath ? join(dirname(dirname(process.env.npm_execpath)), 'node_modules', 'node-gyp', 'bin', 'node-gyp.js') : undefined;
  const epoll = join(nm, 'epoll');
  if (!existsSync(epoll)) {
    // Optional: GPIO is reported as unavailable at run time.
  } else if (targetCpu !== process.arch) {
    console.log(`tillbox postinstall: installing for linux-${targetCpu} on ${process.arch}: epoll (GPIO) is not built here; the cross build builds it.`);
  } else if (!headers) {
    console.warn(`tillbox postinstall: no Node 24 headers (node-linux-${process.arch}) in node_modules; GPIO (onoff/epoll) will be unavailable.`);
  } else if (!gyp || !existsSync(gyp)) {
    console.warn('tillbox postinstall: node-gyp not found next to npm; GPIO (onoff/epoll) will be unavailable.');
  } else {
    try {
      // npm exports its config as npm_config_* (here nodedir=/usr, Node 20's
      // headers), which node-gyp would prefer over the flag: drop them.
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_config_/i.test(k)));
      execFileSync(node24, [gyp, 'rebuild', `--nodedir=${headers}`], { cwd: epoll, env, stdio: ['ignore', 'ignore', 'pipe'] });
      // Prove it: load it with the Node that will run it.
      execFileSync(node24, ['-e', "require('epoll')"], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
      console.log(`tillbox postinstall: built epoll (GPIO) for Node ${execFileSync(node24, ['-p', 'process.versions.node']).toString().trim()}`);
    } catch (err) {
      console.warn(`tillbox postinstall: building epoll failed (needs python3, make, g++); GPIO will be unavailable.\n${String(err.stderr ?? err).slice(0, 2000)}`);
    }
  }
}

import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

// Every native addon must load in the Node that runs the product (24), not
// only in the Node that ran npm. N-API addons load anywhere; epoll (GPIO) is a
// NAN addon that scripts/postinstall.mjs builds against Node 24's headers.
const require = createRequire(import.meta.url);

describe('native addons', () => {
  for (const name of ['classic-level', '@serialport/bindings-cpp', 'usb', 'node-hid', 'epoll']) {
    it(`loads ${name} on Node ${process.versions.node}`, () => {
      expect(() => require(name)).not.toThrow();
    });
  }
});

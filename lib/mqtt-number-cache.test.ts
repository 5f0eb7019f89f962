import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// In a child process: the table is module state of mqtt-packet, shared by
// every test file that a worker runs.
function encodeInChild(drop: boolean): { cached: number; bytes: string } {
  const script = `
    import { createRequire } from 'node:module';
    import { PassThrough } from 'node:stream';
    import { dropMqttNumberCache } from ${JSON.stringify(new URL('./mqtt-number-cache.ts', import.meta.url).href)};
    const require = createRequire(${JSON.stringify(import.meta.url)});
    if (${drop}) dropMqttNumberCache();
    const { writeToStream } = require('mqtt-packet');
    const out = new PassThrough();
    const chunks = [];
    out.on('data', (c) => chunks.push(c));
    writeToStream({ cmd: 'publish', topic: 'store/s1/pos/sale', payload: Buffer.from('{}'), qos: 1, messageId: 4660 }, out);
    writeToStream({ cmd: 'puback', messageId: 65535 }, out);
    setImmediate(() => {
      const cached = Object.keys(require('mqtt-packet/numbers.js').cache).length;
      console.log(JSON.stringify({ cached, bytes: Buffer.concat(chunks).toString('hex') }));
    });`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
}

describe('dropMqttNumberCache', () => {
  it('keeps mqtt-packet from building its 65,536-buffer number table, and the packets it writes are byte for byte the same', () => {
    const stock = encodeInChild(false);
    const dropped = encodeInChild(true);
    expect(stock.cached).toBe(65536);
    expect(dropped.cached).toBe(0);
    expect(dropped.bytes).toBe(stock.bytes);
    expect(dropped.bytes).toContain('1234'); // message id 4660, big-endian
  });
});

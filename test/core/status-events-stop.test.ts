import { request } from 'node:http';
import { expect, it } from 'vitest';
import { startBox } from '../../harness/box.ts';

// An open /status/events stream (a phone left on the status page) must not hold
// up core's stop: the stream ends before the server waits for its connections.
it('stops cleanly while a status page holds an event stream open', async () => {
  const box = await startBox(undefined, { TILLBOX_LOG_LEVEL: 'warn' });
  await new Promise<void>((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port: box.port, path: '/status/events' }, (m) => m.once('data', () => resolve()));
    r.once('error', reject);
    r.end();
  });
  await box.stop();
  expect(box.child.exitCode).toBe(0);
  expect(box.output()).not.toMatch(/stop took too long|handles still open after stop/);
}, 30_000);

import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createRootLogger } from '../log.ts';
import { type ApiHarness, bearer, startApi, TILL_TOKEN } from './testing.ts';

const harnesses: ApiHarness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.close();
});

describe('HTTP API over a real socket', () => {
  it('sells over TCP, replays a retry, and never writes the token to the log', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const h = await startApi({ log: createRootLogger({ level: 'debug', destination: sink }) });
    harnesses.push(h);
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    const addr = h.app.server.address();
    if (!addr || typeof addr === 'string') throw new Error('no address');
    const base = `http://127.0.0.1:${addr.port}`;
    const body = JSON.stringify({ lines: [{ sku: 'BREAD-WG', qty: 1 }], tenders: [{ type: 'cash', amount: 500 }] });
    const headers = { ...bearer(TILL_TOKEN), 'content-type': 'application/json', 'idempotency-key': 'sock-1' };

    const first = await fetch(`${base}/api/v1/sales`, { method: 'POST', headers, body });
    expect(first.status).toBe(201);
    const sale = (await first.json()) as { id: string; total: number; change: number };
    expect(sale).toMatchObject({ total: 249, change: 251 });

    const retry = await fetch(`${base}/api/v1/sales`, { method: 'POST', headers, body });
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(((await retry.json()) as { id: string }).id).toBe(sale.id);
    expect(h.journal.lastSeq).toBe(1);

    const broken = await fetch(`${base}/api/v1/sales`, { method: 'POST', headers: { ...headers, 'idempotency-key': 'sock-2' }, body: '{"lines":' });
    expect(broken.status).toBe(400);
    expect(broken.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const wrongToken = await fetch(`${base}/api/v1/catalog`, { headers: bearer(`${TILL_TOKEN}x`) });
    expect(wrongToken.status).toBe(401);
    expect(h.journal.lastSeq).toBe(1);

    await h.app.close();
    const log = lines.join('');
    expect(log).toContain('"msg":"request"'); // the request log is on, so the check below means something
    expect(log).not.toContain(TILL_TOKEN);
    expect(log.toLowerCase()).not.toContain('bearer');
  });
});

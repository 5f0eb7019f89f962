import type { FastifyInstance } from 'fastify';
import { afterEach } from 'vitest';
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import { startPos, type PosHarness } from '../pos/testing.ts';
import type { WeightSource } from '../pos/scale-readings.ts';
import { createHttpApi } from './app.ts';

// Test support: the HTTP API over a PosService on a real LevelJournal.

export const TILL_TOKEN = 'till-token-0123456789abcdef';
export const MANAGER_TOKEN = 'manager-token-0123456789abcdef';
export const TILL2_TOKEN = 'till2-token-0123456789abcdef';

export interface ApiHarness extends PosHarness {
  app: FastifyInstance;
  ready: boolean;
}

export async function startApi(options: { loopbackOpen?: boolean; log?: Logger; bodyLimit?: number; weights?: WeightSource } = {}): Promise<ApiHarness> {
  const pos = await startPos(options.weights ? { weights: options.weights } : {});
  const h = pos as ApiHarness;
  h.ready = true;
  h.app = createHttpApi({
    pos: pos.pos,
    journal: pos.journal,
    log: options.log ?? silentLogger(),
    auth: {
      tokens: [
        { name: 'till-1', token: TILL_TOKEN, role: 'till' },
        { name: 'till-2', token: TILL2_TOKEN, role: 'till' },
        { name: 'boss', token: MANAGER_TOKEN, role: 'manager' },
      ],
      loopbackOpen: options.loopbackOpen ?? false,
    },
    isReady: () => h.ready,
    bodyLimit: options.bodyLimit,
  });
  const close = pos.close;
  h.close = async () => {
    await h.app.close();
    await close();
  };
  return h;
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/**
 * For a test file: a function that starts an API harness and closes every
 * harness it started after each test.
 */
export function apiPerTest(): (options?: Parameters<typeof startApi>[0]) => Promise<ApiHarness> {
  const harnesses: ApiHarness[] = [];
  afterEach(async () => {
    for (const h of harnesses.splice(0)) await h.close();
  });
  return async (options = {}) => {
    const h = await startApi(options);
    harnesses.push(h);
    return h;
  };
}

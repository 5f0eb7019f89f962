import type { FastifyInstance } from 'fastify';
import type { SyncStatus } from './cloud-bridge.ts';

/**
 * GET /api/v1/sync/status: any authenticated caller (a till may show
 * "offline, 42 sales waiting"); it carries counts and times, no secrets.
 */
export function registerSyncStatusRoute(app: FastifyInstance, status: () => Promise<SyncStatus>): void {
  app.get('/api/v1/sync/status', { config: { doc: { success: '200 `{ connected, pending, oldestPendingAgeMs, lastAckAt, conflicts, dropped, ... }`', notes: 'any till' } } }, async () => status());
}

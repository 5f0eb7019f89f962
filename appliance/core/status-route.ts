import type { FastifyInstance } from 'fastify';
import { requireManager } from '../http/app.ts';
import type { IntegrityReport } from '../journal/types.ts';
import type { BoxStatus as BoxHealth } from '../../contract/box-status.ts';

export interface BoxStatus {
  storeId: string;
  deviceId: string;
  startedAt: string;
  journal: {
    lastSeq: number;
    lastHlc: string;
    /** Full scan run in the background after start; null until it finished. */
    integrity: IntegrityReport | null;
    /** Synced batches written (one fsync each) and events appended since start: group commit at work. */
    batches: number;
    appends: number;
  };
  publisher: { cursor: number; published: number; failures: number };
  /** The same document as the retained store/{storeId}/box/status. */
  health: BoxHealth;
  memory: { rssMB: number; heapUsedMB: number };
}

/** GET /api/v1/status (manager): what `tillbox doctor` asks a running box. */
export function registerStatusRoute(app: FastifyInstance, status: () => BoxStatus): void {
  app.get(
    '/api/v1/status',
    {
      config: { doc: { success: '200 journal lastSeq/HLC and integrity scan, publisher cursor, box health (as on store/{s}/box/status), memory', notes: 'manager token; what `tillbox doctor` asks' } },
      preHandler: requireManager,
    },
    async () => status(),
  );
}

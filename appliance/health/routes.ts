import type { FastifyInstance } from 'fastify';
import type { Gauge, Registry } from 'prom-client';
import type { HealthDocument } from '../../contract/health.ts';
import { requireManager } from '../http/app.ts';

// GET /api/v1/health (the last health document) and GET /metrics (Prometheus
// text: Node process metrics plus the health figures, from the same document,
// so the two never disagree). The registry is per core, not prom-client's global,
// and built at the first scrape: prom-client costs ~6 MB and 30 ms that a box
// nobody scrapes should not pay at start.

export function registerHealthRoutes(app: FastifyInstance, latest: () => Promise<HealthDocument>): void {
  app.get('/api/v1/health', { config: { doc: { success: '200 the health document (contract/health.ts), as sent on fleet/{deviceId}/health', notes: 'any till' } } }, async () => latest());

  let doc: HealthDocument | undefined;
  let registry: Promise<Registry> | undefined;
  const build = async (): Promise<Registry> => {
    const { collectDefaultMetrics, Gauge, Registry } = await import('prom-client');
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'tillbox_core_' });
    const gauge = (name: string, help: string, labelNames: string[], set: (g: Gauge, d: HealthDocument) => void) =>
      new Gauge({
        name,
        help,
        labelNames,
        registers: [registry],
        collect() {
          this.reset();
          if (doc) set(this, doc);
        },
      });
    const num = (g: Gauge, v: number | null, labels: Record<string, string> = {}) => v !== null && g.set(labels, v);
    gauge('tillbox_journal_last_seq', 'Highest journal sequence number', [], (g, d) => num(g, d.journal.lastSeq));
    gauge('tillbox_selling', '1 while the box accepts sales', [], (g, d) => num(g, d.alerts.some((a) => a.code === 'TB_DISK_FULL' || a.code === 'TB_JOURNAL_CLOSED') ? 0 : 1));
    gauge('tillbox_sync_connected', '1 while the cloud link is up', [], (g, d) => num(g, d.sync.connected ? 1 : 0));
    gauge('tillbox_sync_pending_events', 'Journal events HQ has not acknowledged', [], (g, d) => num(g, d.sync.pending));
    gauge('tillbox_sync_oldest_pending_seconds', 'Age of the oldest unacknowledged event', [], (g, d) => num(g, d.sync.oldestPendingAgeS));
    gauge('tillbox_sync_conflicts', 'Open conflicts HQ reported', [], (g, d) => num(g, d.sync.conflicts));
    gauge('tillbox_sync_dropped_total', 'Messages bounded sync lanes dropped', [], (g, d) => num(g, d.sync.dropped));
    gauge('tillbox_broker_clients', 'MQTT clients connected to the local broker', [], (g, d) => num(g, d.broker.clients));
    gauge('tillbox_broker_refused_total', 'Connections and subscriptions refused by a limit', [], (g, d) => num(g, d.broker.refused));
    gauge('tillbox_disk_free_bytes', 'Free bytes on the state dir filesystem', [], (g, d) => num(g, Math.round(d.disk.freeMB * 1048576)));
    gauge('tillbox_memory_available_bytes', 'MemAvailable', [], (g, d) => num(g, Math.round(d.memory.availableMB * 1048576)));
    gauge('tillbox_cpu_load1', 'Load average over one minute', [], (g, d) => num(g, d.cpu.load1));
    gauge('tillbox_cpu_temperature_celsius', 'Hottest thermal zone', [], (g, d) => num(g, d.cpu.tempC));
    gauge('tillbox_peripheral_up', '1 when the peripheral is online', ['id', 'kind'], (g, d) => {
      for (const p of d.peripherals) g.set({ id: p.id, kind: p.kind }, p.state === 'online' ? 1 : 0);
    });
    gauge('tillbox_certificate_days_left', 'Days until the box certificate expires', [], (g, d) => num(g, d.certificate.daysLeft));
    gauge('tillbox_health_dropped_total', 'Health messages the bounded health lane dropped', [], (g, d) => num(g, d.healthDropped));
    gauge('tillbox_alerts', 'Alerts the box raises now, by code', ['code'], (g, d) => {
      for (const a of d.alerts) g.inc({ code: a.code });
    });

    return registry;
  };
  app.get(
    '/metrics',
    { config: { doc: { success: '200 Prometheus text (process metrics, journal, sync lag, broker, disk, peripherals, certificate, alerts)', notes: 'manager token' } }, preHandler: requireManager },
    async (_req, reply) => {
      doc = await latest();
      const r = await (registry ??= build());
      reply.type(r.contentType);
      return r.metrics();
    },
  );
}

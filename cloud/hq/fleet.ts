import type { FastifyInstance } from 'fastify';
import { Gauge, Registry } from 'prom-client';
import { CERT_ALERT_DAYS, type HealthDocument } from '../../contract/health.ts';
import type { Ledger } from '../ledger/ledger.ts';

// The fleet as HQ sees it: every box with its online state, last health
// document and the alerts an operator acts on, as JSON (GET /api/v1/fleet),
// a page (GET /fleet; server-rendered, no script needed) and Prometheus
// gauges per device (GET /metrics).

export interface FleetAlert {
  kind: string;
  since: string;
  detail: string;
}

export interface FleetEntry {
  deviceId: string;
  storeId: string;
  online: boolean;
  lastSeenAt: string | null;
  health: HealthDocument | null;
  alerts: FleetAlert[];
}

export interface FleetOptions {
  /** HQ_ALERT_OFFLINE_S: a box offline longer than this is an alert. */
  offlineAlertS: number;
  /** HQ_ALERT_BACKLOG_S: an oldest pending event older than this is an alert. */
  backlogAlertS: number;
}

export const FLEET_DEFAULTS: FleetOptions = { offlineAlertS: 300, backlogAlertS: 3600 };

export async function fleetView(ledger: Ledger, opts: FleetOptions, now = Date.now(), storeId?: string): Promise<FleetEntry[]> {
  const [devices, health, losses] = await Promise.all([ledger.devices(), ledger.healthByDevice(), ledger.lossReports()]);
  const lossBy = new Map<string, string>();
  for (const l of losses) lossBy.set(l.deviceId, l.receivedAt);
  const out: FleetEntry[] = [];
  for (const d of devices) {
    if (storeId && d.storeId !== storeId) continue;
    const doc = (health.get(d.deviceId)?.doc as HealthDocument | undefined) ?? null;
    const alerts: FleetAlert[] = [];
    const seenAt = d.lastSeenAt ?? new Date(0).toISOString();
    if (d.online !== true && now - Date.parse(seenAt) > opts.offlineAlertS * 1000) alerts.push({ kind: 'offline', since: seenAt, detail: `offline since ${seenAt}` });
    if (doc) {
      for (const a of doc.alerts) alerts.push({ kind: a.code, since: a.since, detail: a.message });
      if (doc.sync.oldestPendingAgeS > opts.backlogAlertS)
        alerts.push({ kind: 'sync-backlog', since: doc.at, detail: `${doc.sync.pending} events pending, oldest ${Math.round(doc.sync.oldestPendingAgeS / 60)} min` });
      if (doc.certificate.daysLeft !== null && doc.certificate.daysLeft < CERT_ALERT_DAYS)
        alerts.push({ kind: 'certificate-expiring', since: doc.at, detail: `certificate expires in ${doc.certificate.daysLeft} days` });
    }
    const loss = lossBy.get(d.deviceId);
    if (loss) alerts.push({ kind: 'loss-reported', since: loss, detail: 'the box reported dropped messages (GET /api/v1/loss)' });
    out.push({ deviceId: d.deviceId, storeId: d.storeId, online: d.online === true, lastSeenAt: d.lastSeenAt, health: doc, alerts });
  }
  // Boxes that need someone first.
  return out.sort((a, b) => b.alerts.length - a.alerts.length || a.deviceId.localeCompare(b.deviceId));
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function fleetPage(entries: FleetEntry[], storeId?: string): string {
  const rows = entries
    .map((e) => {
      const lag = e.health ? `${e.health.sync.pending} pending` : '–';
      const alerts = e.alerts.length ? `<ul>${e.alerts.map((a) => `<li><b>${esc(a.kind)}</b> ${esc(a.detail)}</li>`).join('')}</ul>` : 'none';
      return `<tr class="${e.alerts.length ? 'alert' : 'ok'}"><td data-l="Box">${esc(e.deviceId)}</td><td data-l="Store">${esc(e.storeId)}</td><td data-l="State">${e.online ? 'online' : 'offline'}</td><td data-l="Last seen">${esc(e.lastSeenAt ?? 'never')}</td><td data-l="Sync">${esc(lag)}</td><td data-l="Alerts">${alerts}</td></tr>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta http-equiv="refresh" content="10">
<title>tillbox fleet</title>
<style>body{font:15px system-ui,sans-serif;margin:1rem}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;vertical-align:top}tr.alert td:first-child{border-left:4px solid #c00}tr.ok td:first-child{border-left:4px solid #2a2}ul{margin:0;padding-left:1rem}td{overflow-wrap:anywhere}
@media (max-width:600px){thead{display:none}table,tbody,tr,td{display:block}tr{margin-bottom:.8rem}td{border:0;padding:.15rem .4rem}td::before{content:attr(data-l) ': ';font-weight:600}}</style>
</head><body>
<h1>tillbox fleet${storeId ? ` — store ${esc(storeId)}` : ''}</h1>
<form method="get"><label>Store <input name="storeId" value="${esc(storeId ?? '')}"></label> <button>Filter</button></form>
<p>${entries.length} boxes, ${entries.filter((e) => e.alerts.length).length} with alerts, ${entries.filter((e) => e.online).length} online.</p>
<table><thead><tr><th>Box</th><th>Store</th><th>State</th><th>Last seen</th><th>Sync</th><th>Alerts</th></tr></thead>
<tbody>
${rows}
</tbody></table></body></html>
`;
}

export function registerFleetRoutes(app: FastifyInstance, ledger: Ledger, opts: FleetOptions, now: () => number): void {
  app.get<{ Querystring: { storeId?: string } }>('/api/v1/fleet', async (req) => fleetView(ledger, opts, now(), req.query.storeId || undefined));
  app.get<{ Querystring: { storeId?: string } }>('/fleet', async (req, reply) => {
    const storeId = req.query.storeId || undefined;
    reply.type('text/html; charset=utf-8');
    return fleetPage(await fleetView(ledger, opts, now(), storeId), storeId);
  });
  const registry = new Registry();
  let fleet: FleetEntry[] = [];
  const per = (name: string, help: string, value: (e: FleetEntry) => number | null) =>
    new Gauge({
      name,
      help,
      labelNames: ['device', 'store'],
      registers: [registry],
      collect() {
        this.reset();
        for (const e of fleet) {
          const v = value(e);
          if (v !== null) this.set({ device: e.deviceId, store: e.storeId }, v);
        }
      },
    });
  per('tillbox_hq_device_online', '1 while the box is online', (e) => (e.online ? 1 : 0));
  per('tillbox_hq_device_alerts', 'Alerts for the box', (e) => e.alerts.length);
  per('tillbox_hq_device_sync_pending_events', 'Events the box has not had acknowledged (its last health)', (e) => e.health?.sync.pending ?? null);
  per('tillbox_hq_device_sync_oldest_pending_seconds', 'Age of its oldest pending event', (e) => e.health?.sync.oldestPendingAgeS ?? null);
  per('tillbox_hq_device_disk_free_bytes', 'Free bytes on its state dir filesystem', (e) => (e.health ? Math.round(e.health.disk.freeMB * 1048576) : null));
  per('tillbox_hq_device_certificate_days_left', 'Days until its certificate expires', (e) => e.health?.certificate.daysLeft ?? null);
  app.get('/metrics', async (_req, reply) => {
    fleet = await fleetView(ledger, opts, now());
    reply.type(registry.contentType);
    return registry.metrics();
  });
}

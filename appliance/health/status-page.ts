import type { FastifyInstance } from 'fastify';
import type { HealthDocument } from '../../contract/health.ts';
import type { IdentityStatus } from '../../contract/enrolment.ts';

// The installer's page (GET /status, and / redirects to it): "is this box OK and
// what do I do next". Server-rendered, so the essentials read without
// JavaScript; a small script follows GET /status/events (server-sent events,
// one health document per change or every few seconds) and redraws. No secrets:
// it shows what GET /api/v1/health and /api/v1/identity show, behind the same
// authentication rules as the API.

const esc = (s: unknown): string => String(s ?? '–').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export interface StatusView {
  health: HealthDocument;
  identity: IdentityStatus;
}

function nextStep(v: StatusView): string {
  const { identity, health } = v;
  if (identity.state === 'pending') return `Approve this box at HQ: <code>tillbox-hq pairing approve ${esc(identity.pairingCode)} --store STORE</code>`;
  if (identity.state === 'unenrolled' && health.sync.enabled) return 'Enrol this box: <code>tillbox enroll --url https://HQ:PORT --token TOKEN --ca-fingerprint SHA256</code>';
  if (identity.state === 'revoked') return 'HQ revoked this box: enrol it again under a new device id. Selling continues.';
  if (identity.state === 'expired') return 'The certificate expired: enrol again. Selling continues.';
  const first = health.alerts[0];
  if (first) return esc(first.message);
  return 'Nothing to do: the box is selling and in sync.';
}

/** The page body; also what the live script swaps in (one renderer, so both agree). */
export function renderStatus(v: StatusView): string {
  const h = v.health;
  const ok = h.alerts.length === 0;
  const row = (k: string, val: string) => `<tr><th>${k}</th><td>${val}</td></tr>`;
  const peripherals = h.peripherals.length
    ? h.peripherals
        .map((p) => `<li class="${p.state === 'online' && p.paper !== 'empty' ? 'ok' : 'bad'}">${esc(p.id)} (${esc(p.kind)}): ${esc(p.state)}${p.paper ? `, paper ${esc(p.paper)}` : ''}</li>`)
        .join('')
    : '<li>none connected</li>';
  const alerts = h.alerts.length ? `<ul>${h.alerts.map((a) => `<li class="bad">${esc(a.message)}</li>`).join('')}</ul>` : '';
  return `<section id="status" class="${ok ? 'ok' : 'bad'}">
<h1>${ok ? 'Box OK' : 'Needs attention'}</h1>
<p class="next" id="next">${nextStep(v)}</p>
${alerts}
<table>
${row('Store / device', `${esc(h.storeId)} / ${esc(h.deviceId)}`)}
${row('Enrolment', `${esc(v.identity.state)}${v.identity.pairingCode ? ` — pairing code <b id="pairing">${esc(v.identity.pairingCode)}</b>` : ''}${v.identity.daysLeft !== null ? `, certificate ${esc(v.identity.daysLeft)} days left` : ''}`)}
${row('Cloud', h.sync.enabled ? `${h.sync.connected ? 'connected' : 'offline'}, last sync ${esc(h.sync.lastAckAt ?? 'never')}` : 'not configured')}
${row('Backlog', `${esc(h.sync.pending)} events${h.sync.pending ? `, oldest ${esc(Math.round(h.sync.oldestPendingAgeS / 60))} min` : ''}`)}
${row('Conflicts', esc(h.sync.conflicts))}
${row('Peripherals', `<ul id="peripherals">${peripherals}</ul>`)}
${row('Disk', `${esc(h.disk.freeMB)} MB free of ${esc(h.disk.totalMB)} MB`)}
${row('Temperature', h.cpu.tempC === null ? '–' : `${esc(h.cpu.tempC)} °C`)}
${row('Clock', `${esc(h.at)}${h.clock.synchronised === false ? ' (not synchronised)' : ''}`)}
${row('Version', `tillbox ${esc(h.versions.tillbox)}, Node ${esc(h.versions.node)}`)}
</table>
</section>`;
}

function page(v: StatusView): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>tillbox ${esc(v.health.deviceId)}</title>
<style>
body{font:16px system-ui,sans-serif;margin:0;padding:.75rem;max-width:40rem}
h1{margin:.2rem 0;font-size:1.5rem}#status.ok h1{color:#1a7f37}#status.bad h1{color:#b00}
.next{background:#f4f4f4;padding:.6rem;border-radius:.3rem}code{word-break:break-all}
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:.35rem .25rem;border-bottom:1px solid #e4e4e4}
th{width:33%;font-weight:600}ul{margin:0;padding-left:1.1rem}li.bad{color:#b00}li.ok{color:#1a7f37}
</style></head><body>
${renderStatus(v)}
<script>
// Live: the server sends the rendered section whenever the health document changes.
const es = new EventSource('/status/events');
es.addEventListener('status', (e) => { document.getElementById('status').outerHTML = JSON.parse(e.data).html; });
</script>
</body></html>
`;
}

export function registerStatusPage(app: FastifyInstance, view: () => Promise<StatusView>, opts: { pushMs?: number } = {}): void {
  app.get('/', async (_req, reply) => reply.redirect('/status'));
  app.get('/status', { config: { doc: { success: '200 the installer status page (HTML; live through /status/events)', notes: 'same auth as the API' } } }, async (_req, reply) => {
    reply.type('text/html; charset=utf-8');
    return page(await view());
  });
  // Open event streams end when the server closes, or a stop would wait on them.
  const streams = new Set<import('node:http').ServerResponse>();
  // preClose: before the server waits for its connections (onClose runs after, too late).
  app.addHook('preClose', async () => {
    for (const r of streams) r.end();
  });
  app.get('/status/events', async (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    streams.add(res);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    let last = '';
    let busy = false;
    const push = async () => {
      if (busy) return;
      busy = true;
      try {
        const html = renderStatus(await view());
        if (html !== last) {
          last = html;
          res.write(`event: status\ndata: ${JSON.stringify({ html })}\n\n`);
        } else res.write(': keep-alive\n\n');
      } catch {
        // next tick
      } finally {
        busy = false;
      }
    };
    const timer = setInterval(() => void push(), opts.pushMs ?? 1000);
    req.raw.on('close', () => {
      clearInterval(timer);
      streams.delete(res);
    });
    await push();
  });
}

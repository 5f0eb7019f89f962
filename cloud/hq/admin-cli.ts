import { Command, CommanderError } from 'commander';
import { TOKEN_TTL_DEFAULT_S } from '../../contract/enrolment.ts';

// `tillbox-hq token|pairing|device ...`: the operator's enrolment commands,
// through HQ's HTTP API (HQ_URL, default http://127.0.0.1:8090; HQ_API_TOKEN
// when HQ requires it), so they work against a running HQ from anywhere.

function parseTtl(text: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text.trim());
  if (!m) throw new Error(`--ttl must look like 30m, 24h or 7d, got ${JSON.stringify(text)}`);
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}

async function api(method: string, path: string, body?: unknown): Promise<unknown> {
  const base = process.env.HQ_URL ?? 'http://127.0.0.1:8090';
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (process.env.HQ_API_TOKEN) headers.authorization = `Bearer ${process.env.HQ_API_TOKEN}`;
  let res: Response;
  try {
    res = await fetch(new URL(path, base), { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  } catch (err) {
    throw new Error(`cannot reach HQ at ${base} (${(err as Error).message}); set HQ_URL`);
  }
  const data = (await res.json().catch(() => ({}))) as { detail?: string; code?: string };
  if (!res.ok) throw new Error(`HQ answered ${res.status}${data.code ? ` ${data.code}` : ''}: ${data.detail ?? res.statusText}`);
  return data;
}

export async function runAdminCli(argv: string[]): Promise<number> {
  const program = new Command('tillbox-hq').exitOverride();
  const out = (json: boolean | undefined, data: unknown, text: string) => process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${text}\n`);

  const token = program.command('token').description('one-time enrolment tokens');
  token
    .command('create')
    .requiredOption('--store <id>', 'store the box will belong to')
    .option('--device <id>', 'only this device id may use it')
    .option('--ttl <duration>', 'lifetime (30m, 24h, 7d)', `${TOKEN_TTL_DEFAULT_S / 3600}h`)
    .option('--json', 'machine-readable output')
    .action(async (o: { store: string; device?: string; ttl: string; json?: boolean }) => {
      const t = (await api('POST', '/api/v1/enrolment-tokens', { storeId: o.store, ...(o.device ? { deviceId: o.device } : {}), ttlSeconds: parseTtl(o.ttl) })) as {
        token: string;
        expiresAt: string;
        caFingerprint: string;
        estUrl: string;
      };
      out(o.json, t, `token ${t.token} (store ${o.store}, works once, until ${t.expiresAt})\non the box: tillbox enroll --url ${t.estUrl} --token ${t.token} --ca-fingerprint ${t.caFingerprint}`);
    });

  const pairing = program.command('pairing').description('boxes waiting with a pairing code');
  pairing
    .command('list')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const r = (await api('GET', '/api/v1/pairings')) as { pairings: Array<{ code: string; deviceId: string; address: string; status: string; lastSeenAt: string; storeId: string | null }> };
      const lines = r.pairings.map((p) => `${p.code}  ${p.status.padEnd(8)} ${p.deviceId.padEnd(20)} ${p.address.padEnd(16)} last seen ${p.lastSeenAt}${p.storeId ? `  store ${p.storeId}` : ''}`);
      out(o.json, r, lines.length ? lines.join('\n') : 'no box is waiting');
    });
  pairing
    .command('approve <code>')
    .requiredOption('--store <id>', 'store the box belongs to')
    .option('--json', 'machine-readable output')
    .action(async (code: string, o: { store: string; json?: boolean }) => {
      const p = (await api('POST', `/api/v1/pairings/${encodeURIComponent(code)}/approve`, { storeId: o.store })) as { code: string; deviceId: string };
      out(o.json, p, `approved ${p.code}: ${p.deviceId} gets its certificate for store ${o.store} at its next try`);
    });

  const device = program.command('device').description('enrolled devices');
  device
    .command('revoke <deviceId>')
    .option('--json', 'machine-readable output')
    .action(async (id: string, o: { json?: boolean }) => {
      const r = (await api('POST', `/api/v1/devices/${encodeURIComponent(id)}/revoke`)) as { serials: string[] };
      out(o.json, r, `revoked ${id} (${r.serials.length} certificate(s)); the CRL is rewritten: reload the broker's crlfile`);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    process.stderr.write(`tillbox-hq: ${(err as Error).message}\n`);
    return 1;
  }
}

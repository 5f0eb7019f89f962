import { createHqLogger } from '../log.ts';
import { hqConfigFromEnv, startHq } from './hq.ts';

// `tillbox-hq`: starts the reference HQ with no arguments, configured by the
// environment (see hqConfigFromEnv in hq.ts). Stops cleanly on SIGINT/SIGTERM;
// exits non-zero on a fatal start error.
//
// Test hook: HQ_TEST_KILL_AFTER_COMMIT=n makes the process SIGKILL itself
// right after the n-th batch that applied something has COMMITTED, before
// its ack is published (the lost-ack fault test). Never set it in production.

const log = createHqLogger();

async function main(): Promise<void> {
  if (['token', 'pairing', 'device'].includes(process.argv[2] ?? '')) {
    const { runAdminCli } = await import('./admin-cli.ts');
    process.exitCode = await runAdminCli(process.argv.slice(2));
    return;
  }
  if (process.argv.length > 2 && ['-h', '--help', 'help'].includes(process.argv[2]!)) {
    process.stdout.write(
      'tillbox-hq: reference HQ (ingest, ledger, catalog, conflicts).\n' +
        'Environment: HQ_MQTT_URL (absent: embedded broker on HQ_MQTT_PORT, default 1884), HQ_DATABASE_URL (absent: PGlite in HQ_DATA_DIR, default ./.tillbox-hq),\n' +
        '  HQ_HTTP_PORT (8090), HQ_HTTP_HOST, HQ_MQTT_HOST, HQ_WORKERS (1), HQ_GROUP (hq), HQ_REVIEW_THRESHOLD_HOURS (72), HQ_API_TOKEN, HQ_CATALOG_FILE,\n' +
        '  HQ_MQTT_CA / HQ_MQTT_CERT / HQ_MQTT_KEY, HQ_MQTT_USERNAME / HQ_MQTT_PASSWORD, HQ_LOG_LEVEL.\n' +
        'Provisioning: HQ_EST_PORT (EST over HTTPS; absent: off), HQ_EST_HOST, HQ_EST_HOSTNAMES, HQ_CA_CERT_FILE / HQ_CA_KEY_FILE, HQ_CERT_DAYS (30), HQ_CERT_SECONDS.\n' +
        'Operator commands (through HQ_URL, default http://127.0.0.1:8090, with HQ_API_TOKEN):\n' +
        '  tillbox-hq token create --store S [--device D] [--ttl 24h] [--json]\n' +
        '  tillbox-hq pairing list [--json] | pairing approve CODE --store S\n' +
        '  tillbox-hq device revoke DEVICE\n',
    );
    return;
  }
  const killAfter = Number(process.env.HQ_TEST_KILL_AFTER_COMMIT ?? 0);
  let committed = 0;
  const hq = await startHq({
    config: hqConfigFromEnv(),
    log,
    ...(killAfter > 0
      ? {
          afterCommit: (outcome) => {
            if (outcome.ack.result !== 'applied') return;
            if (++committed >= killAfter) {
              process.stdout.write(`HQ_TEST_KILL_AFTER_COMMIT: killing after commit of batch ${outcome.ack.batchId}\n`);
              process.kill(process.pid, 'SIGKILL');
            }
          },
        }
      : {}),
  });
  process.stdout.write(`tillbox-hq ready http=${hq.httpUrl} mqtt=${hq.mqttUrl}${hq.estUrl ? ` est=${hq.estUrl}` : ''}\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'HQ stopping');
    hq.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'HQ stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  log.fatal({ err }, 'HQ failed to start');
  process.exit(1);
});

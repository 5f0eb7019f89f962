import { describe, expect, it } from 'vitest';
import { HQ_DEFAULTS, hqConfigFromEnv } from './hq.ts';

describe('HQ configuration from the environment', () => {
  it('defaults: embedded broker on 1884, PGlite in ./.tillbox-hq, HTTP 8090, one worker, 72 h review threshold', () => {
    expect(hqConfigFromEnv({})).toEqual({});
    expect(HQ_DEFAULTS).toMatchObject({ mqttPort: 1884, dataDir: './.tillbox-hq', httpPort: 8090, workers: 1, reviewThresholdHours: 72 });
  });

  it('reads every HQ_* variable', () => {
    expect(
      hqConfigFromEnv({
        HQ_MQTT_URL: 'mqtts://broker.example:8883',
        HQ_DATABASE_URL: 'postgres://hq@db/hq',
        HQ_DATA_DIR: '/var/lib/hq',
        HQ_HTTP_PORT: '9000',
        HQ_WORKERS: '4',
        HQ_REVIEW_THRESHOLD_HOURS: '24',
        HQ_API_TOKEN: 't',
        HQ_GROUP: 'hq2',
      }),
    ).toEqual({
      mqttUrl: 'mqtts://broker.example:8883',
      databaseUrl: 'postgres://hq@db/hq',
      dataDir: '/var/lib/hq',
      httpPort: 9000,
      workers: 4,
      reviewThresholdHours: 24,
      apiToken: 't',
      group: 'hq2',
    });
  });

  it('refuses nonsense with the variable name', () => {
    expect(() => hqConfigFromEnv({ HQ_WORKERS: '0' })).toThrow(/HQ_WORKERS/);
    expect(() => hqConfigFromEnv({ HQ_HTTP_PORT: 'http' })).toThrow(/HQ_HTTP_PORT/);
  });
});

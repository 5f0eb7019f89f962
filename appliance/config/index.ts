export { ConfigSchema, type Config } from './schema.ts';
export { loadConfig, validateConfig, ConfigError, type ConfigIssue, type LoadOptions } from './load.ts';
export { ENV_KEYS } from './env.ts';

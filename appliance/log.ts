// The box's logging is lib/log.ts (shared with HQ); this module keeps the
// import path every appliance module uses.
export { createRootLogger, namespaced, silentLogger, type Logger, type LogOptions } from '../lib/log.ts';

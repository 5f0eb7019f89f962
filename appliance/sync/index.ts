export { CloudBridge, type CloudBridgeContext, type CloudConfig, type SyncStatus } from './cloud-bridge.ts';
export { registerSyncStatusRoute } from './status-route.ts';
export { SyncError, SyncErrorCode, isSyncError, isTransientSyncError, needsOperator } from './errors.ts';
export { syncPaths } from './sync-state.ts';

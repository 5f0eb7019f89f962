import { Type, type Static } from '@sinclair/typebox';
import { localTopics } from './topics.ts';

// Status of the devices process itself (the "host" of every peripheral),
// retained on store/{storeId}/devices/host/state. The id `host` is reserved:
// no peripheral may use it.
//
// The rule for consumers (tills, flows, core): a peripheral's retained
// .../state is only current while the host state is `online`. When the host
// is `offline` (clean stop) or `lost` (its MQTT last will: crash, kill -9,
// network cut), every peripheral state under it is stale and must be read as
// `off-offline`. On every (re)connect the host publishes `online` and then a
// fresh retained state for each peripheral it knows, and clears (empty
// retained payload) the states of peripherals it published before and no
// longer knows — so a restart never leaves a stale "online" behind.

export const HOST_PERIPHERAL_ID = 'host';

export const HostState = Type.Object(
  {
    state: Type.Union([Type.Literal('online'), Type.Literal('offline'), Type.Literal('lost')]),
    /** ISO time of the change (absent in the last will: the broker sends it later). */
    since: Type.Optional(Type.String()),
    pid: Type.Optional(Type.Integer()),
    /** Peripheral ids the host manages right now. */
    peripherals: Type.Optional(Type.Array(Type.String())),
    reason: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type HostState = Static<typeof HostState>;

export function hostStateTopic(storeId: string): string {
  return localTopics.deviceState(storeId, HOST_PERIPHERAL_ID);
}

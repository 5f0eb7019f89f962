// The latest scale readings core heard on the local broker, so a cart line
// `{ sku, scale: "<peripheral id>" }` takes its weight from the scale itself
// and only when it is sellable (issue 4 §3, legal for trade: stable, in range,
// not zero — drivers/scale sellableWeight). A kiosk cannot put a weight of its
// own choosing, or one read in motion, into a sale this way.
//
// Fed from two topics (contract/topics.ts):
//   store/{s}/devices/{id}/weight  WeightReading, published on change
//   store/{s}/devices/{id}/state   retained birth/death: a reading of a scale
//                                  that is not online is not used
// Core subscribes and calls onMessage(); nothing here touches MQTT.
import { parseTopic, topicFilter } from '../../contract/topics.ts';
import { compileSchema } from '../../lib/validate.ts';
import { ErrorCode, TillboxError } from '../../contract/errors.ts';
import { WeightReading } from '../../contract/devices/scale.ts';
import { sellableWeight } from '../../drivers/scale/scale.ts';
import { isScaleError } from '../../drivers/scale/types.ts';

/** What the POS needs: the grams of a sellable reading, or a TillboxError saying why not. */
const checkReading = compileSchema(WeightReading);

export interface WeightSource {
  sellableGrams(peripheralId: string): number;
}

export class ScaleReadings implements WeightSource {
  readonly #storeId: string;
  readonly #readings = new Map<string, WeightReading>();
  readonly #online = new Map<string, boolean>();

  constructor(storeId: string) {
    this.#storeId = storeId;
  }

  /** MQTT filters to subscribe to. */
  get topics(): string[] {
    return [topicFilter('deviceEvent', { storeId: this.#storeId, event: 'weight' }), topicFilter('deviceState', { storeId: this.#storeId })];
  }

  /** Feed one message; anything that is not a valid reading or state is ignored. */
  onMessage(topic: string, payload: Buffer | string): void {
    const t = parseTopic('deviceEvent', topic, { storeId: this.#storeId });
    if (!t) return;
    const id = t.peripheralId!;
    const text = payload.toString();
    if (t.event === 'state') {
      if (text === '') {
        this.#online.delete(id);
        this.#readings.delete(id);
        return;
      }
      const state = parseJson(text) as { state?: unknown; kind?: unknown } | undefined;
      if (typeof state?.state !== 'string') return;
      this.#online.set(id, state.state === 'online');
      if (state.state !== 'online') this.#readings.delete(id); // a scale that comes back must weigh again
      return;
    }
    if (t.event === 'weight') {
      const r = parseJson(text);
      if (checkReading(r)) this.#readings.set(id, r);
    }
  }

  latest(peripheralId: string): WeightReading | undefined {
    return this.#readings.get(peripheralId);
  }

  sellableGrams(peripheralId: string): number {
    if (this.#online.get(peripheralId) === false) {
      throw new TillboxError(ErrorCode.StateConflict, `scale ${peripheralId} is not online`, { field: 'scale', retryable: true });
    }
    const r = this.#readings.get(peripheralId);
    if (!r) throw new TillboxError(ErrorCode.StateConflict, `no reading from scale ${peripheralId} yet`, { field: 'scale', retryable: true });
    try {
      sellableWeight(r);
    } catch (err) {
      if (isScaleError(err)) throw new TillboxError(ErrorCode.StateConflict, `scale ${peripheralId}: ${err.message}`, { field: 'scale', retryable: true, detail: { reading: r } });
      throw err;
    }
    if (r.grams === undefined) {
      throw new TillboxError(ErrorCode.StateConflict, `scale ${peripheralId} reads ${r.value} ${r.unit}, not a whole number of grams; set the scale to kg or g`, {
        field: 'scale',
        detail: { reading: r },
      });
    }
    return r.grams;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

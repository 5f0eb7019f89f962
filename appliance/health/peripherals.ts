import { parseTopic, topicFilter } from '../../contract/topics.ts';
import { HOST_PERIPHERAL_ID } from '../../contract/devices-host.ts';
import type { HealthDocument } from '../../contract/health.ts';

// Every peripheral as the devices process last said (retained .../state) and
// the printers' paper (retained .../status), for the health document.

const PAPER_KNOWN = new Set(['online', 'offline']);

export class PeripheralTracker {
  readonly #storeId: string;
  readonly #items = new Map<string, HealthDocument['peripherals'][number]>();
  readonly #onChange: ((id: string, state: HealthDocument['peripherals'][number] | undefined) => void) | undefined;

  /** `onChange` hears every change of one peripheral (undefined: it is gone), e.g. to mirror it to the cloud. */
  constructor(storeId: string, onChange?: (id: string, state: HealthDocument['peripherals'][number] | undefined) => void) {
    this.#storeId = storeId;
    this.#onChange = onChange;
  }

  get topics(): string[] {
    return [topicFilter('deviceState', { storeId: this.#storeId }), topicFilter('deviceEvent', { storeId: this.#storeId, event: 'status' })];
  }

  onMessage(topic: string, payload: Buffer): void {
    const state = parseTopic('deviceState', topic, { storeId: this.#storeId });
    const id = state?.peripheralId ?? parseTopic('deviceEvent', topic, { storeId: this.#storeId, event: 'status' })?.peripheralId;
    if (!id || id === HOST_PERIPHERAL_ID) return;
    if (payload.length === 0) {
      // A cleared retained state: the peripheral is gone.
      if (state && this.#items.delete(id)) this.#onChange?.(id, undefined);
      return;
    }
    let body: { kind?: unknown; state?: unknown; paper?: unknown };
    try {
      body = JSON.parse(payload.toString('utf8')) as typeof body;
    } catch {
      return;
    }
    const cur = this.#items.get(id) ?? { id, kind: 'unknown', state: 'unknown' };
    if (state) {
      if (typeof body.kind === 'string') cur.kind = body.kind;
      if (typeof body.state === 'string') cur.state = body.state;
      // Paper is known while the printer is powered (UPOS online, or offline: paper out, cover
      // open); once it is off or unplugged the last reading is stale.
      if (!PAPER_KNOWN.has(cur.state)) delete cur.paper;
    } else if (!PAPER_KNOWN.has(cur.state) && cur.state !== 'unknown') delete cur.paper;
    else if (typeof body.paper === 'string') cur.paper = body.paper;
    const before = JSON.stringify(this.#items.get(id));
    this.#items.set(id, cur);
    if (JSON.stringify(cur) !== before) this.#onChange?.(id, { ...cur });
  }

  list(): HealthDocument['peripherals'] {
    return [...this.#items.values()].map((p) => ({ ...p })).sort((a, b) => a.id.localeCompare(b.id));
  }
}

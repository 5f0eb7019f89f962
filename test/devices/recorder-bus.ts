import type { PeripheralState } from '../../contract/devices.ts';
import type { BusPort } from '../../appliance/devices/host.ts';

/** The devices host's bus port, recording states and events in memory so a test can wait on them. */
export class RecorderBus implements BusPort {
  readonly states = new Map<string, PeripheralState>();
  readonly events: Array<{ id: string; event: string; payload: any }> = [];
  readonly #waiters = new Set<() => void>();
  setState(s: PeripheralState): void {
    this.states.set(s.id, s);
    for (const w of [...this.#waiters]) w();
  }
  clearState(id: string): void {
    this.states.delete(id);
  }
  publishEvent(id: string, event: string, payload: unknown): void {
    this.events.push({ id, event, payload });
    for (const w of [...this.#waiters]) w();
  }
  onCommand(): void {}
  onPosEvent(): void {}
  onBoxStatus(): void {}
  setPeripheralList(): void {}
  until(pred: () => boolean): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve) => {
      const w = () => {
        if (pred()) {
          this.#waiters.delete(w);
          resolve();
        }
      };
      this.#waiters.add(w);
    });
  }
}

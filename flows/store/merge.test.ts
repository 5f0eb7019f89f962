import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deployStoreFlows, mergeStoreFlows, readBase, readOverlay, overlayFileFor, StoreFlowsError, type BaseFlows, type Overlay } from './merge.ts';

const base = (): BaseFlows => ({
  version: 2,
  flows: [
    { id: 'tbx-broker', type: 'tillbox-broker' },
    { id: 'tbx-tab', type: 'tab', label: 'T', env: [{ name: 'A', type: 'num', value: '1' }] },
    { id: 'tbx-a', type: 'function', z: 'tbx-tab', func: 'return msg;' },
    { id: 'tbx-tab2', type: 'tab', label: 'T2' },
    { id: 'tbx-b', type: 'inject', z: 'tbx-tab2', crontab: '00 22 * * *' },
  ],
});
const overlay = (o: Partial<Overlay> = {}): Overlay => ({ version: 1, store: 's1', revision: 3, base: 2, ...o });

describe('store flows merge', () => {
  it('sets tab env and node properties, removes tabs with their nodes, adds nodes, locks store tabs and stamps the version', () => {
    const m = mergeStoreFlows(
      base(),
      overlay({ env: { 'tbx-tab': { A: 5, B: { x: 1 }, C: 'text' } }, set: { 'tbx-a': { name: 'renamed' } }, remove: ['tbx-tab2'], add: [{ id: 'tbx-c', type: 'debug', z: 'tbx-tab' }] }),
    );
    expect(m.version).toBe('base 2 + s1 r3');
    const byId = new Map(m.flows.map((n) => [n.id, n]));
    expect(byId.get('tbx-tab')!.env).toEqual([
      { name: 'A', type: 'num', value: '5' },
      { name: 'B', type: 'json', value: '{"x":1}' },
      { name: 'C', type: 'str', value: 'text' },
    ]);
    expect(byId.get('tbx-a')!.name).toBe('renamed');
    expect(byId.has('tbx-tab2') || byId.has('tbx-b')).toBe(false);
    expect(byId.get('tbx-c')!.type).toBe('debug');
    expect(byId.get('tbx-tab')!.locked).toBe(true);
    expect(byId.get('tbx-tab')!.info).toContain('base 2 + s1 r3');
  });

  it('refuses overlays that do not fit the base, with a message naming the problem', () => {
    expect(() => mergeStoreFlows(base(), overlay({ base: 1 }))).toThrow(/written for base 1, this is base 2/);
    expect(() => mergeStoreFlows(base(), overlay({ set: { 'tbx-nope': {} } }))).toThrow(StoreFlowsError);
    expect(() => mergeStoreFlows(base(), overlay({ add: [{ id: 'mine', type: 'debug' }] }))).toThrow(/start with tbx-/);
    expect(() => mergeStoreFlows(base(), overlay({ set: { 'tbx-a': { type: 'exec' } } }))).toThrow(/type cannot be changed/);
    expect(() => mergeStoreFlows(base(), overlay({ env: { 'tbx-a': { X: 1 } } }))).toThrow(/no tab tbx-a/);
  });

  it('deploys by replacing only store nodes, keeping what integrators added', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tillbox-storeflows-'));
    const file = join(dir, 'flows', 'flows.json');
    await deployStoreFlows(file, mergeStoreFlows(base()));
    const edited = JSON.parse(readFileSync(file, 'utf8'));
    edited.push({ id: 'mytab', type: 'tab', label: 'mine' }, { id: 'n1', type: 'debug', z: 'mytab' }, { id: 'stale', type: 'debug', z: 'tbx-tab' });
    writeFileSync(file, JSON.stringify(edited));
    const { kept } = await deployStoreFlows(file, mergeStoreFlows(base(), overlay({ remove: ['tbx-tab2'] })));
    expect(kept).toBe(2);
    const ids = JSON.parse(readFileSync(file, 'utf8')).map((n: { id: string }) => n.id);
    expect(ids).toEqual(['tbx-broker', 'tbx-tab', 'tbx-a', 'mytab', 'n1']);
  });

  it('the shipped base and demo overlay merge cleanly', () => {
    const file = overlayFileFor('demo-store');
    expect(file).toBeDefined();
    const m = mergeStoreFlows(readBase(), readOverlay(file!));
    expect(m.flows.filter((n) => n.type === 'tab').map((n) => n.label)).toEqual(['Kitchen & bar tickets', 'Low-stock alerts', 'Large-refund alert', 'End-of-day report']);
    expect(m.flows.find((n) => n.id === 'tbx-eod-at')!.crontab).toBe('30 21 * * *');
    expect(overlayFileFor('no-such-store')).toBeUndefined();
  });
});

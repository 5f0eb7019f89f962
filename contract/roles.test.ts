import { describe, expect, it } from 'vitest';
import { ACL, aclFilters, mayPublish, maySubscribe, ROLES } from './roles.ts';
import { areaFilter, buildTopic, TOPIC, topicMatches, type TopicName } from './topics.ts';

describe('role ACLs derived from the topic table', () => {
  it('expand to the MQTT filters the broker enforces', () => {
    const f = aclFilters('S');
    expect(f.core).toEqual({ publish: ['store/S/#', 'fleet/#'], subscribe: ['store/S/#'], denyPublish: [] });
    expect(f.devices.subscribe).toEqual(['store/S/devices/+/cmd/#', 'store/S/pos/#', 'store/S/box/#']);
    expect(f.flows.publish).toEqual(['store/S/devices/+/cmd/+', 'store/S/flows/#', 'store/S/cloud/#']);
    expect(f.kiosk.denyPublish).toEqual(['store/S/pos/#']);
    expect(f.admin.subscribe).toEqual(['#']);
  });

  it('grant every filter on some instance of the contract, so no grant is dead', () => {
    const params = { storeId: 'S', deviceId: 'D', peripheralId: 'p1', eventType: 'sale.completed', event: 'scan', command: 'print', rest: 'a/b' };
    const instances = (Object.keys(TOPIC) as TopicName[]).map((n) => buildTopic(n, params));
    for (const role of ROLES) {
      for (const filter of [...aclFilters('S')[role].publish, ...aclFilters('S')[role].subscribe]) {
        expect(
          instances.some((t) => topicMatches(filter, t)),
          `${role}: ${filter}`,
        ).toBe(true);
      }
    }
  });

  it('let no role but core publish a POS event, and no anonymous role read the whole broker', () => {
    for (const role of ROLES) expect(mayPublish(role, 'S', buildTopic('posEvent', { storeId: 'S', eventType: 'sale.completed' })), role).toBe(role === 'core');
    for (const role of ROLES.filter((r) => ACL[r].anonymous)) expect(maySubscribe(role, 'S', '#'), role).toBe(false);
  });

  it('refuse an area deeper than its template', () => {
    expect(areaFilter('posEvent', 3, { storeId: 'S' })).toBe('store/S/pos/#');
    expect(() => areaFilter('boxStatus', 9)).toThrow(RangeError);
  });
});

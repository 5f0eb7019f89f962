import type { CatalogData } from '../../contract/pos.ts';
import { DEMO_STORE_ID, demoCatalogData } from '../../contract/demo-catalog.ts';

// HQ's demo catalog: the very catalog the demo box ships with (one copy, in
// contract/). Packaged goods track stock (50 each per store); produce is sold by weight.

export const HQ_DEMO_STORE_ID = DEMO_STORE_ID;

export function hqDemoCatalog(): CatalogData {
  return demoCatalogData();
}

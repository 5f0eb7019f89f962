import { Catalog } from './catalog.ts';

// The demo catalog's data is shared with the reference HQ, so it lives in contract/.
import { demoCatalogData } from '../../contract/demo-catalog.ts';

export { DEMO_STORE_ID, DEMO_VARIABLE_MEASURE, demoCatalogData } from '../../contract/demo-catalog.ts';

export function createDemoCatalog(): Catalog {
  return new Catalog(demoCatalogData());
}

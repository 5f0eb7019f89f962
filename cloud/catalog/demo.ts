import type { CatalogData } from '../../contract/pos.ts';

// HQ's demo catalog: the same grocery assortment the demo box ships with
// (built here from contract types; cloud/ never imports the appliance).
// Packaged goods track stock (50 each per store); produce is sold by weight.

export const HQ_DEMO_STORE_ID = 'demo-store';

export function hqDemoCatalog(): CatalogData {
  const pkg = (sku: string, name: string, ean: string, price: number, taxClass = 'reduced') => ({
    sku,
    name,
    barcodes: [ean],
    price,
    taxClass,
    trackStock: true,
    soldByWeight: false,
    unit: 'ea' as const,
    stock: 50,
  });
  const produce = (sku: string, name: string, plu: string, pricePerKg: number) => ({
    sku,
    name,
    barcodes: [plu],
    price: pricePerKg,
    taxClass: 'reduced',
    trackStock: false,
    soldByWeight: true,
    unit: 'kg' as const,
  });
  return {
    currency: 'EUR',
    taxClasses: [
      { name: 'standard', rateBp: 1900 },
      { name: 'reduced', rateBp: 700 },
    ],
    items: [
      pkg('MILK-1L', 'Whole milk 1 l', '4001230001078', 119),
      pkg('BUTTER-250', 'Butter 250 g', '4001230001146', 229),
      pkg('EGGS-10', 'Free-range eggs, 10', '4001230001214', 299),
      pkg('BREAD-WG', 'Wholegrain bread 500 g', '4001230001283', 249),
      pkg('PASTA-500', 'Spaghetti 500 g', '4001230001351', 129),
      pkg('RICE-1K', 'Basmati rice 1 kg', '4001230001429', 219),
      pkg('COFFEE-500', 'Coffee beans 500 g', '4001230001498', 749),
      pkg('OJ-1L', 'Orange juice 1 l', '4001230001566', 189),
      pkg('YOGURT-500', 'Natural yogurt 500 g', '4001230001634', 99),
      pkg('CHEDDAR-200', 'Cheddar 200 g', '4001230001702', 279),
      pkg('CHOC-100', 'Dark chocolate 100 g', '4001230001771', 149),
      pkg('OIL-500', 'Olive oil 500 ml', '4001230001849', 699),
      pkg('WATER-1500', 'Sparkling water 1.5 l', '4001230001917', 59, 'standard'),
      pkg('SOAP-500', 'Dish soap 500 ml', '4001230001986', 189, 'standard'),
      pkg('TOWELS-4', 'Paper towels, 4 rolls', '4001230002051', 349, 'standard'),
      produce('BANANA', 'Bananas', '4011', 199),
      produce('APPLE-GALA', 'Gala apples', '4133', 279),
      produce('TOMATO', 'Tomatoes', '4664', 349),
      produce('POTATO', 'Potatoes', '4072', 129),
      produce('CARROT', 'Carrots', '4562', 149),
    ],
  };
}

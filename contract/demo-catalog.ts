import type { CatalogData } from './pos.ts';

// The grocery demo: 15 packaged items with EAN-13 barcodes (GS1 check digits,
// verified by catalog.test.ts) and 5 produce items sold by weight with their
// PLU codes. German VAT: 7 % on food, 19 % on the rest. Prices tax-inclusive.
//
// Variable-measure labels (restricted circulation EAN-13, GS1 Germany style):
//   21 IIIII PPPPP C  price-embedded, 5-digit item, price in cents (deli counter)
//   28 IIIII WWWWW C  weight-embedded, 5-digit item, weight in grams (prepacked produce)
// Each such item carries its lookup code (the value zeroed, check digit
// recomputed): Gouda 2100042000001, bananas 2804011000008. So the label
// 2100042012349 is Gouda at 12.34 EUR, 2804011012346 is 1.234 kg of bananas.

export const DEMO_VARIABLE_MEASURE = [
  { prefix: '21', item: 5, value: 5, kind: 'price' as const, hasPriceCheckDigit: false },
  { prefix: '28', item: 5, value: 5, kind: 'weight' as const, hasPriceCheckDigit: false },
];

export const DEMO_STORE_ID = 'demo-store';

export function demoCatalogData(): CatalogData {
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
  const produce = (sku: string, name: string, plu: string, pricePerKg: number, ...lookupCodes: string[]) => ({
    sku,
    name,
    barcodes: [plu, ...lookupCodes],
    price: pricePerKg,
    taxClass: 'reduced',
    trackStock: false,
    soldByWeight: true,
    unit: 'kg' as const,
  });
  return {
    currency: 'EUR',
    variableMeasure: DEMO_VARIABLE_MEASURE.map((l) => ({ ...l })),
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
      produce('BANANA', 'Bananas', '4011', 199, '2804011000008'),
      produce('APPLE-GALA', 'Gala apples', '4133', 279),
      produce('TOMATO', 'Tomatoes', '4664', 349),
      produce('POTATO', 'Potatoes', '4072', 129),
      produce('CARROT', 'Carrots', '4562', 149),
      produce('GOUDA-DELI', 'Gouda from the counter', '2100042000001', 1890),
      // Prepacked and sold by weight with a GTIN: its GS1-128 / DataBar label carries (01) and (3103) net weight.
      produce('SALMON-FILLET', 'Salmon fillet, prepacked', '4001230002129', 2490),
    ],
  };
}

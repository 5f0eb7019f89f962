export { GpioDrawer, type GpioDrawerContext } from './gpio-drawer.ts';
export { PrinterDrawer, type PrinterDrawerContext } from './printer-drawer.ts';

// What the devices process uses from the printer driver.
export * as escpos from './escpos.ts';
export { EscPosBuilder, type TextStyle } from './builder.ts';
export { MODELS, findModel, definePrinter, columns, cutter, noCutter, drawerPins, codePages, qr, statusBack, processIdResponse, usbIds, type PrinterModel, type PrinterModelId } from './models.ts';
export {
  renderReceipt,
  renderKitchenTicket,
  formatMoney,
  formatAmount,
  saleIdDigits,
  saleIdFromDigits,
  type ReceiptSale,
  type ReceiptOptions,
  type StoreHeader,
  type KitchenTicket,
} from './receipt.ts';
export { parseRealtimeStatus, parseAsb, toPrinterStatus, StatusFrameParser, type InboundFrame, type StatusBits } from './status.ts';
export { EscPosPrinter, type EscPosPrinterContext, type EscPosPrinterEvents, type PrinterPort, type PrintOutcome } from './printer.ts';
export { PrintQueue, FileJobStore, PrintJobError, processIdFor, type PrintQueueContext, type PrintQueueEvents, type PrintJob, type EnqueueResult } from './queue.ts';

// Peripheral URIs (issue 4 §1). One parser, clear errors, no I/O: the config
// loader calls it at load time so a typo fails there, not at first use.
//
//   serial:///dev/ttyUSB0?baud=9600&framing=7E1[&flow=rtscts]
//   serial:///dev/serial/by-id/usb-FTDI_FT232R_A50285BI-if00-port0
//   tcp://host:port            (raw socket: remote serial servers, printers on 9100)
//   usb://04b8:0202[/SERIAL]   (USB bulk, e.g. printer class)
//   hid://0c2e:0b61[/SERIAL][?usagePage=0x8c]
//   file:///dev/usb/lp0        (kernel device file)
import { TransportError, TransportErrorCode } from './transport.ts';

export type Parity = 'none' | 'even' | 'odd' | 'mark' | 'space';
export type DataBits = 5 | 6 | 7 | 8;
export type StopBits = 1 | 1.5 | 2;

export interface Framing {
  dataBits: DataBits;
  parity: Parity;
  stopBits: StopBits;
}

export interface SerialUri {
  scheme: 'serial';
  path: string;
  baudRate: number;
  framing: Framing;
  rtscts: boolean;
}
export interface TcpUri {
  scheme: 'tcp';
  host: string;
  port: number;
}
export interface UsbUri {
  scheme: 'usb' | 'hid';
  vendorId: number;
  productId: number;
  serialNumber?: string;
  /** hid only: pick the interface with this usage page (0x8C = barcode scanner, 0x01 = generic desktop). */
  usagePage?: number;
}
export interface FileUri {
  scheme: 'file';
  path: string;
}
export type PeripheralUri = SerialUri | TcpUri | UsbUri | FileUri;

const BAUDS = new Set([110, 300, 600, 1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200, 230400, 460800, 921600]);
const PARITY: Record<string, Parity> = { N: 'none', E: 'even', O: 'odd', M: 'mark', S: 'space' };

function invalid(uri: string, why: string): TransportError {
  return new TransportError(TransportErrorCode.UriInvalid, `invalid peripheral URI ${JSON.stringify(uri)}: ${why}`, { retryable: false });
}

/** "7E1", "8N1", "8N2", "7O1", "8N1.5" → Framing. */
export function parseFraming(text: string): Framing {
  const m = /^([5-8])([NEOMS])(1|1\.5|2)$/i.exec(text);
  if (!m) throw new TypeError(`framing ${JSON.stringify(text)} is not <data bits 5-8><parity N|E|O|M|S><stop bits 1|1.5|2>, e.g. 8N1 or 7E1`);
  return { dataBits: Number(m[1]) as DataBits, parity: PARITY[m[2]!.toUpperCase()]!, stopBits: Number(m[3]) as StopBits };
}

export function formatFraming(f: Framing): string {
  const p = Object.entries(PARITY).find(([, v]) => v === f.parity)![0];
  return `${f.dataBits}${p}${f.stopBits}`;
}

function hex16(uri: string, text: string | undefined, what: string): number {
  if (text === undefined || !/^[0-9a-f]{4}$/i.test(text)) throw invalid(uri, `${what} must be 4 hex digits (e.g. 04b8), got ${JSON.stringify(text ?? '')}`);
  return Number.parseInt(text, 16);
}

export function parseUri(uri: string): PeripheralUri {
  if (typeof uri !== 'string' || uri.length === 0) throw invalid(String(uri), 'empty');
  if (uri.length > 1024) throw invalid(uri.slice(0, 64) + '…', 'longer than 1024 characters');
  const m = /^([a-z]+):\/\/(.*)$/i.exec(uri);
  if (!m) throw invalid(uri, 'expected scheme://..., one of serial, tcp, usb, hid, file');
  const scheme = m[1]!.toLowerCase();
  const rest = m[2]!;
  const [body, query = ''] = splitOnce(rest, '?');
  let params: URLSearchParams;
  try {
    params = new URLSearchParams(query);
  } catch {
    throw invalid(uri, 'unreadable query string');
  }
  switch (scheme) {
    case 'serial': {
      const path = decode(uri, body);
      if (!path.startsWith('/')) throw invalid(uri, 'serial needs an absolute device path: serial:///dev/ttyUSB0 (three slashes)');
      if (path.includes('\0')) throw invalid(uri, 'NUL in path');
      const known = new Set(['baud', 'framing', 'flow']);
      for (const k of params.keys()) if (!known.has(k)) throw invalid(uri, `unknown serial option ${JSON.stringify(k)} (known: baud, framing, flow)`);
      const baudText = params.get('baud') ?? '9600';
      const baudRate = Number(baudText);
      if (!Number.isInteger(baudRate) || !BAUDS.has(baudRate)) throw invalid(uri, `baud ${JSON.stringify(baudText)} is not a standard rate (${[...BAUDS].join(', ')})`);
      let framing: Framing;
      try {
        framing = parseFraming(params.get('framing') ?? '8N1');
      } catch (err) {
        throw invalid(uri, (err as Error).message);
      }
      const flow = params.get('flow') ?? 'none';
      if (flow !== 'none' && flow !== 'rtscts') throw invalid(uri, `flow must be none or rtscts, got ${JSON.stringify(flow)}`);
      return { scheme, path, baudRate, framing, rtscts: flow === 'rtscts' };
    }
    case 'tcp': {
      if (query) throw invalid(uri, 'tcp takes no options');
      // [v6]:port or host:port
      const hm = /^(\[[0-9a-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})\/?$/i.exec(body);
      if (!hm) throw invalid(uri, 'expected tcp://host:port (port required; IPv6 as [::1]:9100)');
      const port = Number(hm[2]);
      if (port < 1 || port > 65535) throw invalid(uri, `port ${port} out of range 1-65535`);
      const host = hm[1]!.startsWith('[') ? hm[1]!.slice(1, -1) : hm[1]!;
      return { scheme, host, port };
    }
    case 'usb':
    case 'hid': {
      const parts = body.split('/');
      if (parts.length > 2 || (parts.length === 2 && parts[1] === '')) throw invalid(uri, `expected ${scheme}://vid:pid or ${scheme}://vid:pid/serial`);
      const [vid, pid, extra] = parts[0]!.split(':');
      if (extra !== undefined) throw invalid(uri, 'expected vid:pid');
      const out: UsbUri = { scheme, vendorId: hex16(uri, vid, 'vendor id'), productId: hex16(uri, pid, 'product id') };
      if (parts[1] !== undefined) out.serialNumber = decode(uri, parts[1]);
      for (const k of params.keys()) {
        if (k === 'serial') throw invalid(uri, `the serial number goes in the path: ${scheme}://vid:pid/SERIAL, not ?serial=`);
        if (!(scheme === 'hid' && k === 'usagePage')) throw invalid(uri, `unknown ${scheme} option ${JSON.stringify(k)}`);
      }
      const up = params.get('usagePage');
      if (up !== null) {
        const n = Number(up);
        if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw invalid(uri, `usagePage ${JSON.stringify(up)} is not 0..0xffff`);
        out.usagePage = n;
      }
      return out;
    }
    case 'file': {
      if (query) throw invalid(uri, 'file takes no options');
      const path = decode(uri, body);
      if (!path.startsWith('/')) throw invalid(uri, 'file needs an absolute path: file:///dev/usb/lp0 (three slashes)');
      if (path.includes('\0')) throw invalid(uri, 'NUL in path');
      return { scheme, path };
    }
    default:
      throw invalid(uri, `unknown scheme ${JSON.stringify(scheme)} (serial, tcp, usb, hid, file)`);
  }
}

function decode(uri: string, text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw invalid(uri, `bad percent-encoding in ${JSON.stringify(text)}`);
  }
}

function splitOnce(s: string, sep: string): [string, string?] {
  const i = s.indexOf(sep);
  return i < 0 ? [s] : [s.slice(0, i), s.slice(i + 1)];
}

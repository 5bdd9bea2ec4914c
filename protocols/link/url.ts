/**
 * Transports are chosen by URL so that protocol code never imports serialport
 * or net (engineering.md 2.3, after zwave-js and zigbee-herdsman):
 *
 *   serial:///dev/ttyUSB0?baud=9600&parity=none&databits=8&stopbits=1   (defaults 9600 8N1)
 *   tcp://10.0.0.5:4001                                                 (raw TCP, e.g. a device server)
 *
 * Modbus buses add the framing to the same two transports:
 *
 *   modbus-tcp://10.0.0.7:502            Modbus TCP (MBAP header), default port 502
 *   modbus-rtu:///dev/ttyUSB0?baud=9600  Modbus RTU on a serial line (same query as serial:)
 *   modbus-rtu-tcp://10.0.0.5:4001       RTU frames (with CRC) over a raw TCP device server
 *
 * Every mistake throws FillgateError('BAD_URL') naming what is wrong and showing
 * an example, because these strings are typed by hand into station configs.
 */
import { FillgateError } from '../errors.ts';
import type { LinkAddress, SerialParity } from './types.ts';

export type SerialAddress = Extract<LinkAddress, { kind: 'serial' }>;
export type TcpAddress = Extract<LinkAddress, { kind: 'tcp' }>;

/** How Modbus PDUs are framed on the link: MBAP header (Modbus TCP) or RTU address+CRC. */
export type ModbusFraming = 'mbap' | 'rtu';

export interface ModbusAddress {
  scheme: 'modbus-tcp' | 'modbus-rtu' | 'modbus-rtu-tcp';
  framing: ModbusFraming;
  link: LinkAddress;
}

const SERIAL_EXAMPLE = 'serial:///dev/ttyUSB0?baud=9600&parity=none&databits=8&stopbits=1';
const TCP_EXAMPLE = 'tcp://10.0.0.5:4001';
const MODBUS_EXAMPLES = 'modbus-tcp://10.0.0.7:502, modbus-rtu:///dev/ttyUSB0?baud=9600, modbus-rtu-tcp://10.0.0.5:4001';
const MODBUS_TCP_DEFAULT_PORT = 502;

const BAUD_RATES = [1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200, 230400];
const PARITIES: Record<string, SerialParity> = { none: 'none', n: 'none', even: 'even', e: 'even', odd: 'odd', o: 'odd' };

function badUrl(url: string, problem: string, example: string): FillgateError {
  return new FillgateError('BAD_URL', `bad URL "${url}": ${problem} (example: ${example})`, { url, problem });
}

function parse(url: string, example: string): URL {
  if (typeof url !== 'string' || url.trim() === '') throw badUrl(String(url), 'empty', example);
  try {
    return new URL(url.trim());
  } catch {
    const port = /^[a-z-]+:\/\/[^/?]*:(\d+)/i.exec(url.trim())?.[1];
    if (port !== undefined && Number(port) > 65535) throw badUrl(url, `port "${port}" must be 1..65535`, example);
    throw badUrl(url, 'not a URL', example);
  }
}

/** Parses `serial:` or `tcp:` link URLs. */
export function parseLinkUrl(url: string): LinkAddress {
  const u = parse(url, `${SERIAL_EXAMPLE} or ${TCP_EXAMPLE}`);
  switch (u.protocol) {
    case 'serial:':
      return serialAddress(url, u, SERIAL_EXAMPLE);
    case 'tcp:':
      return tcpAddress(url, u, undefined, TCP_EXAMPLE);
    default:
      throw badUrl(url, `unknown scheme "${u.protocol}", expected serial: or tcp:`, `${SERIAL_EXAMPLE} or ${TCP_EXAMPLE}`);
  }
}

/** Parses `modbus-tcp:`, `modbus-rtu:` and `modbus-rtu-tcp:` bus URLs. */
export function parseModbusUrl(url: string): ModbusAddress {
  const u = parse(url, MODBUS_EXAMPLES);
  switch (u.protocol) {
    case 'modbus-tcp:':
      return { scheme: 'modbus-tcp', framing: 'mbap', link: tcpAddress(url, u, MODBUS_TCP_DEFAULT_PORT, 'modbus-tcp://10.0.0.7:502') };
    case 'modbus-rtu:':
      return { scheme: 'modbus-rtu', framing: 'rtu', link: serialAddress(url, u, 'modbus-rtu:///dev/ttyUSB0?baud=9600&parity=even') };
    case 'modbus-rtu-tcp:':
      return { scheme: 'modbus-rtu-tcp', framing: 'rtu', link: tcpAddress(url, u, undefined, 'modbus-rtu-tcp://10.0.0.5:4001') };
    default:
      throw badUrl(url, `unknown scheme "${u.protocol}", expected modbus-tcp:, modbus-rtu: or modbus-rtu-tcp:`, MODBUS_EXAMPLES);
  }
}

/** A URL for an address, e.g. for logs and health names. */
export function formatLinkAddress(a: LinkAddress): string {
  if (a.kind === 'tcp') return `tcp://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
  const parity = a.parity === 'none' ? 'N' : a.parity === 'even' ? 'E' : 'O';
  return `serial://${a.path} ${a.baudRate} ${a.dataBits}${parity}${a.stopBits}`;
}

function serialAddress(url: string, u: URL, example: string): SerialAddress {
  // serial:///dev/ttyUSB0 has an empty host; serial://COM3 (Windows) carries the port name as host.
  let path = decodeURIComponent(u.pathname);
  if (u.host !== '') {
    if (path !== '' && path !== '/') throw badUrl(url, 'use three slashes before a device path', example);
    path = u.host;
  }
  if (path === '' || path === '/') throw badUrl(url, 'missing device path', example);
  const q = readQuery(url, u, ['baud', 'baudrate', 'parity', 'databits', 'stopbits'], example);
  const baudText = q.baud ?? q.baudrate ?? '9600';
  const baudRate = Number(baudText);
  if (!BAUD_RATES.includes(baudRate)) {
    throw badUrl(url, `baud "${baudText}" is not one of ${BAUD_RATES.join(', ')}`, example);
  }
  const parity = PARITIES[(q.parity ?? 'none').toLowerCase()];
  if (!parity) throw badUrl(url, `parity "${q.parity}" must be none, even or odd`, example);
  const dataBits = Number(q.databits ?? '8');
  if (dataBits !== 7 && dataBits !== 8) throw badUrl(url, `databits "${q.databits}" must be 7 or 8`, example);
  const stopBits = Number(q.stopbits ?? '1');
  if (stopBits !== 1 && stopBits !== 2) throw badUrl(url, `stopbits "${q.stopbits}" must be 1 or 2`, example);
  return { kind: 'serial', path, baudRate, parity, dataBits, stopBits };
}

function tcpAddress(url: string, u: URL, defaultPort: number | undefined, example: string): TcpAddress {
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw badUrl(url, 'missing host', example);
  if (u.pathname !== '' && u.pathname !== '/') throw badUrl(url, `unexpected path "${u.pathname}"`, example);
  readQuery(url, u, [], example);
  if (u.port === '') {
    if (defaultPort === undefined) throw badUrl(url, 'missing port', example);
    return { kind: 'tcp', host, port: defaultPort };
  }
  const port = Number(u.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw badUrl(url, `port "${u.port}" must be 1..65535`, example);
  return { kind: 'tcp', host, port };
}

/** Query keys are case-insensitive; an unknown key is an error so typos (`buad=`) are not silently ignored. */
function readQuery(url: string, u: URL, allowed: string[], example: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [rawKey, value] of u.searchParams) {
    const key = rawKey.toLowerCase();
    if (!allowed.includes(key)) {
      const hint = allowed.length ? `; allowed: ${allowed.join(', ')}` : '; this scheme takes no options';
      throw badUrl(url, `unknown option "${rawKey}"${hint}`, example);
    }
    out[key] = value;
  }
  return out;
}

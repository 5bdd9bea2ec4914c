/**
 * Picks the link implementation from the URL, so configs name transports as
 * strings and protocol code never imports serialport or net (engineering.md 2.3).
 */
import { SerialLink, type SerialLinkOptions } from './serial.ts';
import { TcpLink, type TcpLinkOptions } from './tcp.ts';
import type { Link } from './types.ts';
import { parseLinkUrl } from './url.ts';

export type LinkOptions = SerialLinkOptions & TcpLinkOptions;

/** Throws FillgateError BAD_URL for a bad URL; the link is created closed (call open()). */
export function createLink(url: string, opts: LinkOptions = {}): Link {
  const address = parseLinkUrl(url);
  return address.kind === 'serial' ? new SerialLink(url, address, opts) : new TcpLink(url, address, opts);
}

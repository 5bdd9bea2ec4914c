/**
 * Doctor probes for devices that talk on their own over a stream link: stream
 * scales (continuous output: XK3190-A9, Toledo, ASCII) and ID readers. The
 * doctor listens for a while and counts bytes, decoded frames and discards:
 *
 * - no bytes at all: wrong port, TX/RX (RS-232) or A/B (RS-485) swapped, or the
 *   indicator's continuous output is off (A9: tF = 0, devices.md 3.1);
 * - bytes but nothing decodes: wrong format, or wrong baud/parity (a baud
 *   mismatch turns every byte into noise);
 * - a reader is silent until a tag is presented, so silence proves nothing.
 */
import { createLink } from '../../protocols/link/create.ts';
import type { Link } from '../../protocols/link/types.ts';
import { errorMessage } from '../../protocols/errors.ts';
import { hex, type Framed, type StreamDecoder } from '../../protocols/framing.ts';
import { lineDecoder } from '../../protocols/line.ts';
import { scaleCodec, type ScaleFormat, type ScaleFormatOptions, type ScaleReading } from '../../protocols/scale/index.ts';
import { PlausibilityFilter, type PlausibilityOptions } from '../../devices/scale/plausibility.ts';
import { LARGE_DISCARD_SHARE } from './modbus-hints.ts';
import type { DoctorDevice } from './types.ts';

export interface StreamProbeOptions {
  listenMs?: number;
  connectTimeoutMs?: number;
  /** For tests: the link to use instead of createLink(url). */
  link?: Link;
}

export interface ListenResult<T> {
  openError?: string;
  bytes: number;
  frames: number;
  last?: T;
  discards: { bytes: Buffer; reason: string }[];
  /** The first bytes received, for hints. */
  sample: Buffer;
}

/** Opens the link, feeds everything to the decoder for listenMs, closes. Never throws. */
export async function listen<T>(url: string, decoder: StreamDecoder<T>, opts: StreamProbeOptions): Promise<ListenResult<T>> {
  const result: ListenResult<T> = { bytes: 0, frames: 0, discards: [], sample: Buffer.alloc(0) };
  let link: Link;
  try {
    link = opts.link ?? createLink(url, { connectTimeoutMs: opts.connectTimeoutMs ?? 3000 });
  } catch (err) {
    return { ...result, openError: errorMessage(err) };
  }
  const off = link.data.on((chunk) => {
    result.bytes += chunk.length;
    if (result.sample.length < 32) result.sample = Buffer.concat([result.sample, chunk]).subarray(0, 32);
    for (const ev of decoder.push(chunk)) {
      if (ev.kind === 'frame') {
        result.frames++;
        result.last = ev.frame;
      } else result.discards.push({ bytes: ev.bytes, reason: ev.reason });
    }
  });
  try {
    await link.open();
    await new Promise((r) => setTimeout(r, opts.listenMs ?? 2000));
  } catch (err) {
    result.openError = errorMessage(err);
  } finally {
    off();
    await link.close().catch(() => undefined);
  }
  return result;
}

function openHint(url: string): string {
  return url.startsWith('serial:')
    ? 'cannot open the serial port: check the path exists (ls /dev/ttyUSB* /dev/serial/by-id), the dialout group, and that no other program holds it'
    : 'cannot connect: check the device server IP address and port, and that it is powered and on this network';
}

function reasonsOf(discards: { reason: string }[]): string {
  return [...new Set(discards.map((d) => d.reason))].slice(0, 3).join('; ');
}

/**
 * The gateway's plausibility filter (devices/scale/plausibility.ts) on top of the codec, so the
 * doctor counts what the gateway would discard: swapped digits pass A9's XOR and Toledo's sum.
 * Frames held while the first level is confirmed are not counted: the doctor listens only briefly.
 */
function plausibleDecoder(inner: StreamDecoder<ScaleReading>, opts: PlausibilityOptions = {}): StreamDecoder<ScaleReading> {
  const filter = new PlausibilityFilter(opts);
  let settled = false;
  return {
    push(chunk) {
      const at = performance.now();
      return inner.push(chunk).flatMap((ev): Framed<ScaleReading>[] => {
        if (ev.kind !== 'frame') return [ev];
        const v = filter.check(ev.frame.weightKg, at, ev.frame.overload);
        if (v.ok) {
          settled = true;
          return [ev];
        }
        return settled ? [{ kind: 'discarded' as const, bytes: ev.bytes, reason: v.reason }] : [];
      });
    },
    reset() {
      inner.reset();
      filter.reset();
      settled = false;
    },
    pending: () => inner.pending(),
  };
}

export async function probeStreamScale(
  id: string,
  url: string,
  format: ScaleFormat,
  formatOptions: ScaleFormatOptions | undefined,
  opts: StreamProbeOptions & { plausibility?: PlausibilityOptions } = {},
): Promise<DoctorDevice> {
  const base = { id, role: 'scale' as const, where: `${url} (${format})` };
  let decoder: StreamDecoder<ScaleReading>;
  try {
    decoder = plausibleDecoder(scaleCodec(format, formatOptions).decoder(), opts.plausibility);
  } catch (err) {
    return { ...base, status: 'problem', reachable: false, framesDiscarded: 0, lastError: errorMessage(err), hints: ['fix scale.formatOptions in the config'] };
  }
  const listenMs = opts.listenMs ?? 2000;
  const r = await listen(url, decoder, opts);
  const counts = { bytesReceived: r.bytes, framesDecoded: r.frames, framesDiscarded: r.discards.length };
  const lastError = r.openError ?? (r.discards.length ? r.discards[r.discards.length - 1]!.reason : undefined);
  const dev = (status: DoctorDevice['status'], hints: string[], detail?: string): DoctorDevice => ({
    ...base,
    status,
    reachable: status !== 'unreachable',
    ...counts,
    ...(lastError !== undefined ? { lastError } : {}),
    ...(detail !== undefined ? { detail } : {}),
    hints,
  });
  if (r.openError !== undefined) return dev('unreachable', [openHint(url)]);
  const secs = `${(listenMs / 1000).toFixed(1)} s`;
  if (r.bytes === 0) {
    return dev('unreachable', [
      `no bytes in ${secs}: wrong port, TX/RX swapped (RS-232) or A/B swapped (RS-485), indicator off, or its continuous output is off (XK3190-A9: tF = 0; Toledo: continuous mode)`,
    ]);
  }
  if (r.frames === 0) {
    return dev('problem', [
      `${r.bytes} bytes arrive but no ${format} frame decodes (${reasonsOf(r.discards)}): wrong format, or wrong baud rate/parity; first bytes: ${hex(r.sample, 24)}; ` +
        `look at them with \`fillgate serial sniff ${url}\``,
    ]);
  }
  const w = r.last!;
  const detail = `${w.weightKg} kg${w.net ? ' net' : ''}${w.stable ? ' stable' : ''}${w.overload ? ' OVERLOAD' : ''}, ${r.frames} frames in ${secs}`;
  const hints: string[] = [];
  if (r.discards.length) hints.push(`${r.discards.length} runs discarded (${reasonsOf(r.discards)}): noise, a loose connector, or a second format mixed in`);
  if (w.net && w.tareKg === undefined) {
    return dev('problem', [...hints, 'the indicator sends net weight without its tare: set it to send gross (the fill logic needs gross mass)'], detail);
  }
  // Not ok while a large share is thrown away (issue 12 point 12): the gateway would lose as many.
  const share = r.discards.length / (r.frames + r.discards.length);
  if (share > LARGE_DISCARD_SHARE) {
    return dev('problem', [`${Math.round(share * 100)} % of what arrives is discarded (more than ${LARGE_DISCARD_SHARE * 100} %): fix the line before filling; ${hints.join('; ')}`], detail);
  }
  return dev('ok', hints, detail);
}

export interface ReaderProbeConfig {
  prefix?: string;
  suffix?: string;
}

export async function probeReader(id: string, url: string, _cfg: ReaderProbeConfig, opts: StreamProbeOptions = {}): Promise<DoctorDevice> {
  const r = await listen(url, lineDecoder({ encoding: 'latin1' }), opts);
  const base = { id, role: 'reader' as const, where: url, bytesReceived: r.bytes, framesDecoded: r.frames, framesDiscarded: r.discards.length };
  if (r.openError !== undefined) {
    return { ...base, status: 'unreachable', reachable: false, lastError: r.openError, hints: [openHint(url)] };
  }
  const secs = `${((opts.listenMs ?? 2000) / 1000).toFixed(1)} s`;
  const detail = r.frames > 0 ? `link open, ${r.frames} lines in ${secs}, last ${JSON.stringify(r.last)}` : `link open, no lines in ${secs}`;
  const hints =
    r.frames > 0
      ? []
      : ['a reader sends nothing until a tag is presented: present a tag while the doctor runs to test the receive side, ' + `or watch with \`fillgate serial sniff ${url} --format lines\``];
  if (r.discards.length) hints.push(`${r.discards.length} runs discarded (${reasonsOf(r.discards)}): wrong baud rate, or a line terminator other than CR/LF`);
  return { ...base, status: 'ok', reachable: true, detail, hints };
}

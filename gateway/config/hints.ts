/**
 * Hints for schema errors: what the integrator most likely meant and how to
 * write it, for the mistakes that come up when a station file is typed by hand.
 * The schema says what is wrong; a hint says what to write instead.
 */
import { SCALE_FORMATS } from '../../protocols/scale/index.ts';
import { MAX_POLL_HZ } from './checks.ts';

/** The parts of a zod 4 issue the hints look at. */
export interface SchemaIssue {
  code: string;
  path: PropertyKey[];
  message: string;
  origin?: string;
  maximum?: unknown;
  minimum?: unknown;
  discriminator?: string;
}

const MODBUS_IN_LINK = 'this is a Modbus bus URL: define it under buses: (e.g. buses: { rs485: { url: "…" } }) and refer to it with bus: and unit:; a stream link is serial://… or tcp://…';

/** A hint for one schema issue, given the value found at its path (undefined if none). */
export function hintFor(issue: SchemaIssue, value: unknown): string | undefined {
  const key = String(issue.path[issue.path.length - 1] ?? '');
  const parent = String(issue.path[issue.path.length - 2] ?? '');
  const text = typeof value === 'string' ? value : '';
  if (issue.path[0] === 'cutoffValves' && key === 'feedback' && value === undefined) {
    return 'feedback: { kind: discrete, address: N, closedWhen: true }: the interlock counts a cut-off valve closed only when its closed-position switch says so (CJ/T 394)';
  }
  if (issue.path[0] === 'leakDetectors' && key === 'channels') return 'channels: [{ id: ld-P1, channel: 1, location: P1 }]: one entry per sensor the interlock watches';
  if (issue.code === 'invalid_type' && value === undefined) return `${key || 'this'} is required`;
  if (key === 'link' && /^modbus-/i.test(text)) return MODBUS_IN_LINK;
  if (issue.path[0] === 'buses' && key === 'url') return busUrlHint(text);
  if (key === 'pollHz' && issue.code === 'too_big') {
    return `at most ${MAX_POLL_HZ} Hz: the default 10 Hz already cuts off within 100 ms, and every poll takes its turn on a shared bus`;
  }
  if (key === 'unit' && (issue.code === 'too_big' || issue.code === 'too_small' || issue.code === 'invalid_type')) {
    return 'unit ids are 1..247 on Modbus RTU (0 = broadcast) and 0..255 on Modbus TCP; read it off the device menu';
  }
  if (key === 'kind' && (parent === 'scale' || issue.path[0] === 'checkScale')) {
    return 'kind: modbus (with bus:, unit:, preset:) for a polled indicator, or kind: stream (with link:, format:) for one that sends frames by itself';
  }
  if (key === 'format') return `one of ${SCALE_FORMATS.join(', ')} (devices.md 2.1, 3.1)`;
  if (key === 'medium') return 'LPG or DME, in capitals';
  if (key === 'level' || parent === 'levels') return 'fatal, error, warn, info, debug, trace or silent';
  if (key === 'id' && issue.code === 'invalid_format') return 'e.g. P1, gun-03: letters, digits, - and _';
  return undefined;
}

function busUrlHint(text: string): string | undefined {
  if (/^serial:\/\//i.test(text)) return `for Modbus RTU on this serial port write ${text.replace(/^serial:/i, 'modbus-rtu:')}`;
  if (/^tcp:\/\//i.test(text)) {
    const rest = text.replace(/^tcp:\/\//i, '');
    return `modbus-tcp://${rest} for a Modbus TCP device, or modbus-rtu-tcp://${rest} for RTU frames through a serial device server`;
  }
  if (/^modbus:\/\//i.test(text)) return 'say the framing: modbus-tcp://, modbus-rtu:// or modbus-rtu-tcp://';
  return undefined;
}

/** Levenshtein distance, for "did you mean" on unknown keys. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length];
}

/** "did you mean pollHz?" for a misspelt key, else the list of keys allowed there. */
export function unknownKeyHint(key: string, allowed: string[]): string {
  const close = allowed
    .map((k) => ({ k, d: k.toLowerCase() === key.toLowerCase() ? 0 : distance(key.toLowerCase(), k.toLowerCase()) }))
    .filter((x) => x.d <= Math.max(1, Math.floor(key.length / 4)))
    .sort((a, b) => a.d - b.d);
  if (close.length) return `did you mean ${close[0].k}?`;
  return `allowed here: ${allowed.join(', ')}`;
}

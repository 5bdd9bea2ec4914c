/**
 * Faults on demand, per device ('P1.scale', 'P1.reader', 'P1.valve',
 * 'check.scale', 'GD1.detector', 'cv-main.cutoff'). A fault stays until cleared. Devices ask the book what is
 * active each time they answer, so a fault takes effect on the next frame.
 *
 * Kinds (what the gateway sees on the wire):
 *   no-answer   requests are ignored / a stream stops sending
 *   late        every answer or frame is held back `ms`
 *   corrupt     RTU: CRC wrong; stream scales: check character (A9) or a digit (Toledo/ASCII) made invalid;
 *               readers: a DEL byte inside the code; Modbus TCP (no check field): a data bit flips
 *   garbage     `bytes` random letters before every answer, frame or line
 *   link-drop   the TCP server closes every connection / the pty disappears for `ms`
 *               (on a shared bus this takes down every unit on it)
 *   frozen      a scale keeps answering the value it had when the fault began
 *   stuck-open  the valve ignores close commands (the coil still reads OFF)
 *   slow-valve  the valve takes `closeDelayMs` to close
 *   welded-relay  the relay contact stays as it is: coil writes are acknowledged and read back, but the
 *               valve's power does not follow (a setpoint output wired in series still cuts it)
 *   ignore-setpoint  a Modbus scale acknowledges setpoint writes but keeps its old setpoint
 */
import { z } from 'zod';
import { FillgateError } from '../protocols/errors.ts';
import { formatIssues } from './station.ts';

export const faultSchema = z.discriminatedUnion('kind', [
  z.strictObject({ device: z.string(), kind: z.literal('no-answer') }),
  z.strictObject({ device: z.string(), kind: z.literal('late'), ms: z.number().min(0).max(60_000) }),
  z.strictObject({ device: z.string(), kind: z.literal('corrupt') }),
  z.strictObject({ device: z.string(), kind: z.literal('garbage'), bytes: z.number().int().min(1).max(1024).default(6) }),
  z.strictObject({ device: z.string(), kind: z.literal('link-drop'), ms: z.number().min(1).max(600_000).default(2000) }),
  z.strictObject({ device: z.string(), kind: z.literal('frozen') }),
  z.strictObject({ device: z.string(), kind: z.literal('stuck-open') }),
  z.strictObject({ device: z.string(), kind: z.literal('slow-valve'), closeDelayMs: z.number().min(0).max(60_000).default(1500) }),
  z.strictObject({ device: z.string(), kind: z.literal('welded-relay') }),
  z.strictObject({ device: z.string(), kind: z.literal('ignore-setpoint') }),
]);

export type Fault = z.output<typeof faultSchema>;
export type FaultInput = z.input<typeof faultSchema>;
export type FaultKind = Fault['kind'];

/** Which fault kinds make sense for which device role. */
const allowed: Record<string, FaultKind[]> = {
  scale: ['no-answer', 'late', 'corrupt', 'garbage', 'link-drop', 'frozen', 'ignore-setpoint'],
  reader: ['no-answer', 'late', 'corrupt', 'garbage', 'link-drop'],
  valve: ['no-answer', 'late', 'corrupt', 'garbage', 'link-drop', 'stuck-open', 'slow-valve', 'welded-relay'],
  // A gas detector controller ('no-answer' = the detector goes silent) and a cut-off valve's relay module.
  detector: ['no-answer', 'late', 'corrupt', 'garbage', 'link-drop'],
  cutoff: ['no-answer', 'late', 'corrupt', 'garbage', 'link-drop'],
};

export function parseFault(input: unknown): Fault {
  const r = faultSchema.safeParse(input);
  if (!r.success) throw new FillgateError('BAD_PAYLOAD', `bad fault: ${formatIssues(r.error.issues).join('; ')}`, { input });
  return r.data;
}

/** Active faults per device. Setting a kind again replaces its parameters. */
export class FaultBook {
  private readonly byDevice = new Map<string, Map<FaultKind, Fault>>();
  /** Called after every change (devices react at once: drop a link, freeze a value, stick a valve). */
  onChange: (device: string, fault: Fault | undefined, kind: FaultKind | undefined) => void = () => undefined;

  constructor(private readonly devices: ReadonlySet<string>) {}

  set(input: unknown): Fault {
    const fault = parseFault(input);
    if (!this.devices.has(fault.device)) {
      throw new FillgateError('BAD_PAYLOAD', `unknown device '${fault.device}' (devices: ${[...this.devices].join(', ')})`, { device: fault.device });
    }
    const role = fault.device.split('.').pop() ?? '';
    if (!allowed[role]?.includes(fault.kind)) {
      throw new FillgateError('BAD_PAYLOAD', `fault '${fault.kind}' does not apply to ${fault.device} (allowed: ${allowed[role]?.join(', ')})`, fault);
    }
    let m = this.byDevice.get(fault.device);
    if (!m) this.byDevice.set(fault.device, (m = new Map()));
    m.set(fault.kind, fault);
    this.onChange(fault.device, fault, fault.kind);
    return fault;
  }

  /** Clears one kind, every fault of a device, or everything. */
  clear(device?: string, kind?: FaultKind): void {
    const targets = device ? [device] : [...this.byDevice.keys()];
    for (const d of targets) {
      const m = this.byDevice.get(d);
      if (!m) continue;
      const kinds = kind ? [kind] : [...m.keys()];
      for (const k of kinds) if (m.delete(k)) this.onChange(d, undefined, k);
      if (m.size === 0) this.byDevice.delete(d);
    }
  }

  get<K extends FaultKind>(device: string, kind: K): Extract<Fault, { kind: K }> | undefined {
    return this.byDevice.get(device)?.get(kind) as Extract<Fault, { kind: K }> | undefined;
  }

  /** The first device among `devices` with this fault (a relay module serves several valves). */
  any<K extends FaultKind>(devices: readonly string[], kind: K): Extract<Fault, { kind: K }> | undefined {
    for (const d of devices) {
      const f = this.get(d, kind);
      if (f) return f;
    }
    return undefined;
  }

  list(device?: string): Fault[] {
    if (device) return [...(this.byDevice.get(device)?.values() ?? [])];
    return [...this.byDevice.values()].flatMap((m) => [...m.values()]);
  }
}

/** Garbage for the "garbage" fault: lowercase letters, which no frame format here starts with (not STX, '=', digits or CR/LF). */
export function garbageBytes(n: number, random: () => number = Math.random): Buffer {
  return Buffer.from(Array.from({ length: n }, () => 0x61 + Math.floor(random() * 26)));
}

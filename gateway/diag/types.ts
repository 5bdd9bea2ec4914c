/**
 * What `fillgate doctor` reports (fillgate issue 6, point 3): per configured
 * device, reachable or not, round-trip time, frames discarded, the last error
 * and hints for the common wiring mistakes. Plain data, so the CLI prints it as
 * a table or JSON and a future dashboard can show the same thing.
 */

export type DeviceRole = 'scale' | 'reader' | 'valve' | 'input' | 'detector' | 'cutoff';

/**
 * ok          - reachable and what it sent makes sense
 * problem     - it answers, but something is wrong (register map, word order, format, feedback)
 * unreachable - no valid answer at all (no bytes, silence, wrong unit id, link does not open)
 */
export type DoctorStatus = 'ok' | 'problem' | 'unreachable';

export interface DoctorDevice {
  /** Device id as the gateway names it: "P1.scale", "P1.valve", "check.scale". */
  id: string;
  role: DeviceRole;
  /** Where it is: "modbus-tcp://10.0.0.7:502 unit 1" or a link URL. */
  where: string;
  status: DoctorStatus;
  reachable: boolean;
  /** Round-trip time of the last good Modbus exchange (bus health), ms. */
  rttMs?: number;
  /** Modbus: requests sent / failed while probing. */
  requests?: number;
  failures?: number;
  /** Modbus: garbled or late replies (bus health); streams: byte runs the decoder threw away. */
  framesDiscarded: number;
  /** Streams: bytes and good frames seen while listening. */
  bytesReceived?: number;
  framesDecoded?: number;
  lastError?: string;
  /** What it answered, e.g. "12.34 kg stable", "coil OFF, feedback closed". */
  detail?: string;
  /** What to check, most likely cause first. */
  hints: string[];
}

export interface DoctorReport {
  /** True when every device is 'ok'. */
  ok: boolean;
  devices: DoctorDevice[];
  durationMs: number;
}

export interface DoctorOptions {
  /** Per-request timeout (ms); default: each bus's configured timeoutMs. */
  timeoutMs?: number;
  /** Reads per Modbus device; default 3. */
  reads?: number;
  /** How long to listen to each stream scale and reader (ms); default 2000. */
  listenMs?: number;
  /** Give up opening a link or bus after this long (ms); default 3000. */
  connectTimeoutMs?: number;
  /** Only devices whose id contains this text. */
  only?: string;
  /** Only the device with exactly this id, e.g. "P1.scale" (`fillgate doctor --device`). */
  device?: string;
  /** Weights the registry makes likely (lightest tare .. heaviest tare + allowed fill), to judge word orders. */
  likelyKg?: { minKg: number; maxKg: number };
}

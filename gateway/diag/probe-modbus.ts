/**
 * Doctor probes for Modbus devices: a few read-only requests per device
 * through the production bus arbiter (protocols/modbus/bus.ts), so what the
 * doctor sees is what the gateway will see. Nothing is ever written: a valve's
 * coil is read, never set (the fill valve stays de-energised = closed).
 *
 * The arbiter is set up for diagnosis: no retries (each read is one attempt on
 * the wire), no set-aside and no reconnect after silence, so every configured
 * read reaches the wire and every outcome is counted.
 */
import { ModbusBus } from '../../protocols/modbus/bus.ts';
import type { ModbusUnit } from '../../protocols/modbus/types.ts';
import { errorMessage } from '../../protocols/errors.ts';
import { imageFrom, neededRanges, planReads, type ScaleRegisterMap } from '../../devices/scale/modbus-scale-map.ts';
import type { BusConfig } from '../config/schema.ts';
import { GATEWAY_EXCEPTIONS, checkScaleReading, judgeModbus, outcomeOf, type BusFacts, type LikelyWeights, type ProbeOutcome } from './modbus-hints.ts';
import type { DeviceRole, DoctorDevice, DoctorStatus } from './types.ts';

/** What one successful probe read found. */
export interface ContentCheck {
  status: DoctorStatus;
  detail: string;
  hints: string[];
}

export interface ModbusTarget {
  id: string;
  role: DeviceRole;
  unitId: number;
  /** One read-only probe. Rejects only with the unit's errors; content problems are in the ContentCheck. */
  read(unit: ModbusUnit): Promise<ContentCheck>;
}

export interface BusProbeOptions {
  timeoutMs?: number;
  reads?: number;
  connectTimeoutMs?: number;
}

interface Run {
  target: ModbusTarget;
  unit?: ModbusUnit;
  outcomes: ProbeOutcome[];
  content?: ContentCheck;
  rttMs?: number;
  setupError?: string;
}

/** Probes every target on one bus, one after another; never throws. */
export async function probeBus(busCfg: BusConfig, targets: ModbusTarget[], opts: BusProbeOptions = {}): Promise<DoctorDevice[]> {
  let bus: ModbusBus;
  try {
    bus = new ModbusBus(busCfg.url, {
      gapMs: busCfg.gapMs,
      timeoutMs: opts.timeoutMs ?? busCfg.timeoutMs,
      retries: 0,
      setAsideAfter: 1_000_000,
      reconnectAfterSilent: 1_000_000,
      connectTimeoutMs: opts.connectTimeoutMs ?? 3000,
      reconnect: { initialMs: 200, maxMs: 1000 },
    });
  } catch (err) {
    return targets.map((t) => failedSetup(t, busCfg.url, errorMessage(err)));
  }
  let openError: string | undefined;
  await bus.open().catch((err: unknown) => (openError = errorMessage(err)));
  const runs: Run[] = [];
  try {
    for (const target of targets) runs.push(await probeTarget(bus, target, opts.reads ?? 3, openError));
  } finally {
    await bus.close().catch(() => undefined);
  }
  const facts: BusFacts = {
    url: busCfg.url,
    scheme: bus.address.scheme,
    describe: bus.describe(),
    anyUnitAnswered: runs.some((r) => r.outcomes.some(answered)),
  };
  return runs.map((r) => (r.setupError !== undefined ? failedSetup(r.target, busCfg.url, r.setupError) : toDevice(r, facts)));
}

/** A valid answer: data, or an exception from the unit itself (not from a TCP gateway in front of it). */
function answered(o: ProbeOutcome): boolean {
  return o.kind === 'ok' || (o.kind === 'exception' && !GATEWAY_EXCEPTIONS.includes(o.code));
}

async function probeTarget(bus: ModbusBus, target: ModbusTarget, reads: number, openError: string | undefined): Promise<Run> {
  let unit: ModbusUnit;
  try {
    unit = bus.unit(target.unitId, { name: target.id });
  } catch (err) {
    return { target, outcomes: [], setupError: errorMessage(err) };
  }
  const run: Run = { target, unit, outcomes: [] };
  for (let i = 0; i < Math.max(1, reads); i++) {
    if (openError !== undefined && bus.state !== 'open') {
      run.outcomes.push({ kind: 'link', message: openError });
      break;
    }
    try {
      run.content = await target.read(unit);
      run.outcomes.push({ kind: 'ok' });
      run.rttMs = unit.getHealth().rttMs;
    } catch (err) {
      run.outcomes.push(outcomeOf(err));
    }
  }
  return run;
}

function toDevice(r: Run, facts: BusFacts): DoctorDevice {
  const health = r.unit!.getHealth();
  const verdict = judgeModbus(r.target.unitId, r.outcomes, health.framesDiscarded, facts);
  const status = verdict.status === 'ok' && r.content ? r.content.status : verdict.status;
  const failed = r.outcomes.filter((o) => o.kind !== 'ok');
  const last = failed[failed.length - 1];
  const device: DoctorDevice = {
    id: r.target.id,
    role: r.target.role,
    where: `${facts.url} unit ${r.target.unitId}`,
    status,
    reachable: status !== 'unreachable',
    requests: r.outcomes.length,
    failures: failed.length,
    framesDiscarded: health.framesDiscarded,
    hints: [...verdict.hints, ...(verdict.status === 'ok' ? (r.content?.hints ?? []) : [])],
  };
  if (r.rttMs !== undefined) device.rttMs = r.rttMs;
  if (last && 'message' in last) device.lastError = last.message;
  if (r.content && verdict.status === 'ok') device.detail = r.content.detail;
  return device;
}

function failedSetup(t: ModbusTarget, url: string, error: string): DoctorDevice {
  return {
    id: t.id,
    role: t.role,
    where: `${url} unit ${t.unitId}`,
    status: 'unreachable',
    reachable: false,
    framesDiscarded: 0,
    lastError: error,
    hints: ['fix the bus or unit settings in the config (`fillgate config check <file>`)'],
  };
}

// ---------------------------------------------------------------- targets

export function scaleTarget(id: string, unitId: number, map: ScaleRegisterMap, likely?: LikelyWeights): ModbusTarget {
  const blocks = planReads(neededRanges(map));
  return {
    id,
    role: 'scale',
    unitId,
    async read(unit) {
      const values: number[][] = [];
      for (const b of blocks) {
        values.push(map.function === 4 ? await unit.readInputRegisters(b.address, b.count) : await unit.readHoldingRegisters(b.address, b.count));
      }
      return checkScaleReading(map, imageFrom(blocks, values), likely);
    },
  };
}

export interface ValveProbeConfig {
  coil: number;
  feedback?: { kind: 'discrete' | 'coil'; address: number; closedWhen: boolean };
}

export function valveTarget(id: string, unitId: number, v: ValveProbeConfig): ModbusTarget {
  return {
    id,
    role: 'valve',
    unitId,
    async read(unit) {
      const [on] = await unit.readCoils(v.coil, 1);
      let detail = `coil ${v.coil} ${on ? 'ON (energised)' : 'OFF'}`;
      if (!v.feedback) return { status: 'ok', detail, hints: [] };
      const fb = v.feedback;
      const [bit] = fb.kind === 'coil' ? await unit.readCoils(fb.address, 1) : await unit.readDiscreteInputs(fb.address, 1);
      const closed = bit === fb.closedWhen;
      detail += `, feedback ${fb.kind} ${fb.address} ${bit ? 'ON' : 'OFF'} = ${closed ? 'closed' : 'open'}`;
      if (!on && !closed) {
        return {
          status: 'problem',
          detail,
          hints: [`the coil is OFF but the feedback says the valve is open: check feedback.closedWhen (now ${fb.closedWhen}), the feedback address and its wiring`],
        };
      }
      return { status: 'ok', detail, hints: [] };
    },
  };
}

export function inputTarget(id: string, unitId: number, kind: 'discrete' | 'coil', address: number): ModbusTarget {
  return {
    id,
    role: 'input',
    unitId,
    async read(unit) {
      const [bit] = kind === 'coil' ? await unit.readCoils(address, 1) : await unit.readDiscreteInputs(address, 1);
      return { status: 'ok', detail: `${kind} ${address} ${bit ? 'ON' : 'OFF'}`, hints: [] };
    },
  };
}

/**
 * `fillgate doctor` core (fillgate issue 6, point 3): tries every configured
 * device read-only and reports, per device, reachable or not, round-trip time,
 * frames discarded, the last error and hints for the common wiring mistakes.
 *
 * Buses and stream links are probed in parallel (they are independent wires);
 * the devices on one bus one after another, through that bus's arbiter.
 * Nothing is written to any device: the doctor can run next to a station at
 * rest. It must not run while the gateway runs: a serial port has one owner.
 */
import { errorMessage } from '../../protocols/errors.ts';
import { resolveScaleMap, type ScaleMapOverrides } from '../../devices/scale/presets/index.ts';
import type { ScaleFormatOptions } from '../../protocols/scale/index.ts';
import type { GatewayConfig } from '../config/config.ts';
import type { ScaleConfig } from '../config/schema.ts';
import { inputTarget, probeBus, scaleTarget, valveTarget, type ModbusTarget } from './probe-modbus.ts';
import { probeReader, probeStreamScale } from './probe-stream.ts';
import { cutoffTarget, detectorTarget } from './probe-leak.ts';
import type { DoctorDevice, DoctorOptions, DoctorReport } from './types.ts';

export type { DoctorDevice, DoctorOptions, DoctorReport, DoctorStatus, DeviceRole } from './types.ts';

interface Plan {
  /** Device ids in config order, for the report. */
  order: string[];
  byBus: Map<string, ModbusTarget[]>;
  probes: (() => Promise<DoctorDevice>)[];
  /** Devices that could not even be set up from the config. */
  refused: DoctorDevice[];
}

/**
 * What the doctor needs of a config: the buses and the devices. A station config is one; a
 * one-device config (one-device.ts) has no posts, only `scales` (issue 12 point 13).
 */
export type DoctorConfig = Pick<GatewayConfig, 'buses' | 'posts' | 'checkScale'> & Partial<Pick<GatewayConfig, 'leakDetectors' | 'cutoffValves'>> & { scales?: { id: string; scale: ScaleConfig }[] };

/** Every device id the doctor would probe for this config, in report order. */
export function doctorDeviceIds(cfg: DoctorConfig): string[] {
  return planDoctor(cfg, {}).order;
}

export async function runDoctor(cfg: DoctorConfig, opts: DoctorOptions = {}): Promise<DoctorReport> {
  const started = performance.now();
  const plan = planDoctor(cfg, opts);
  const jobs: Promise<DoctorDevice[]>[] = [];
  for (const [name, targets] of plan.byBus) {
    const busCfg = cfg.buses[name];
    if (busCfg) jobs.push(probeBus(busCfg, targets, opts));
  }
  for (const probe of plan.probes) jobs.push(probe().then((d) => [d]));
  const devices = [...plan.refused, ...(await Promise.all(jobs)).flat()];
  devices.sort((a, b) => plan.order.indexOf(a.id) - plan.order.indexOf(b.id));
  return { ok: devices.every((d) => d.status === 'ok'), devices, durationMs: Math.round(performance.now() - started) };
}

/** Which probes to run for this config; pure apart from resolving scale presets. */
function planDoctor(cfg: DoctorConfig, opts: DoctorOptions): Plan {
  const plan: Plan = { order: [], byBus: new Map(), probes: [], refused: [] };
  const wanted = (id: string) => (!opts.only || id.includes(opts.only)) && (opts.device === undefined || id === opts.device);
  const onBus = (bus: string, target: ModbusTarget) => {
    if (!wanted(target.id)) return;
    plan.order.push(target.id);
    const list = plan.byBus.get(bus) ?? [];
    list.push(target);
    plan.byBus.set(bus, list);
  };
  const stream = (id: string, probe: () => Promise<DoctorDevice>) => {
    if (!wanted(id)) return;
    plan.order.push(id);
    plan.probes.push(probe);
  };
  const scale = (id: string, s: ScaleConfig) => {
    if (s.kind === 'stream') {
      const plausibility = { ...s.plausibility, ...(s.capacityKg !== undefined ? { capacityKg: s.capacityKg } : {}) };
      stream(id, () => probeStreamScale(id, s.link, s.format, s.formatOptions as ScaleFormatOptions | undefined, { ...opts, plausibility }));
      return;
    }
    try {
      onBus(s.bus, scaleTarget(id, s.unit, resolveScaleMap(s.preset, (s.overrides ?? {}) as ScaleMapOverrides), opts.likelyKg));
    } catch (err) {
      if (!wanted(id)) return;
      plan.order.push(id);
      plan.refused.push({
        id,
        role: 'scale',
        where: `${cfg.buses[s.bus]?.url ?? s.bus} unit ${s.unit}`,
        status: 'problem',
        reachable: false,
        framesDiscarded: 0,
        lastError: errorMessage(err),
        hints: ['fix scale.preset / scale.overrides in the config; not probed'],
      });
    }
  };
  for (const p of cfg.posts) {
    scale(`${p.id}.scale`, p.scale);
    stream(`${p.id}.reader`, () => probeReader(`${p.id}.reader`, p.reader.link, p.reader, opts));
    onBus(p.valve.bus, valveTarget(`${p.id}.valve`, p.valve.unit, p.valve));
    if (p.startInput) onBus(p.startInput.bus, inputTarget(`${p.id}.start`, p.startInput.unit, p.startInput.kind, p.startInput.address));
    if (p.stopInput) onBus(p.stopInput.bus, inputTarget(`${p.id}.stop`, p.stopInput.unit, p.stopInput.kind, p.stopInput.address));
  }
  if (cfg.checkScale) scale('check.scale', cfg.checkScale);
  for (const s of cfg.scales ?? []) scale(s.id, s.scale);
  for (const d of cfg.leakDetectors ?? []) onBus(d.bus, detectorTarget(d));
  for (const c of cfg.cutoffValves ?? []) onBus(c.bus, cutoffTarget(c));
  return plan;
}

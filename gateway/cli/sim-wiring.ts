/**
 * Points a gateway config at a running simulator: bus URLs, stream-scale and
 * reader links are replaced by the simulator's endpoints (device ids such as
 * "P1.scale", "P1.valve", "check.scale", "GD1.detector", "cv-main.cutoff"). Used by the demo and the end-to-end
 * tests, so the simulator can bind ephemeral ports and never clash.
 */
import type { GatewayConfig } from '../config/config.ts';

export type SimEndpoints = Record<string, { url: string; unitId?: number }>;

const base = (url: string) => url.split('#')[0];

export function wireConfigToSim(cfg: GatewayConfig, endpoints: SimEndpoints): GatewayConfig {
  const out: GatewayConfig = structuredClone(cfg);
  const need = (device: string) => {
    const e = endpoints[device];
    if (!e) throw new Error(`the simulator has no device "${device}" (has: ${Object.keys(endpoints).join(', ')})`);
    return e;
  };
  const setBus = (bus: string, device: string, unitSetter: (u: number) => void) => {
    const e = need(device);
    out.buses[bus] = { ...out.buses[bus], url: base(e.url) };
    if (e.unitId !== undefined) unitSetter(e.unitId);
  };
  for (const p of out.posts) {
    if (p.scale.kind === 'modbus') {
      const s = p.scale;
      setBus(s.bus, `${p.id}.scale`, (u) => (s.unit = u));
    } else {
      p.scale.link = need(`${p.id}.scale`).url;
    }
    p.reader.link = need(`${p.id}.reader`).url;
    const v = p.valve;
    setBus(v.bus, `${p.id}.valve`, (u) => (v.unit = u));
    if (p.startInput) p.startInput.unit = v.unit;
    if (p.stopInput) p.stopInput.unit = v.unit;
  }
  // Gas detector controllers and cut-off valves: the simulator serves them as "<id>.detector" and "<id>.cutoff".
  for (const d of out.leakDetectors ?? []) setBus(d.bus, `${d.id}.detector`, (u) => (d.unit = u));
  for (const c of out.cutoffValves ?? []) setBus(c.bus, `${c.id}.cutoff`, (u) => (c.unit = u));
  if (out.checkReader && endpoints['check.reader']) out.checkReader.link = need('check.reader').url;
  if (out.checkScale) {
    const c = out.checkScale;
    if (c.kind === 'modbus') setBus(c.bus, 'check.scale', (u) => (c.unit = u));
    else c.link = need('check.scale').url;
  }
  return out;
}

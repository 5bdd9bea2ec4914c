/**
 * The valve soak's station (issue 9 point 6): 8 posts whose Modbus scales and
 * one 8-channel relay module share one bus (Modbus TCP, or RTU frames over a
 * TCP device server), small cylinders and fast flow so a post fills every few
 * seconds. The simulator's station document, the gateway config pointed at it,
 * and a registry of one fresh cylinder code per fill.
 */
import { validateConfig, type GatewayConfig } from '../../gateway/config/config.ts';
import type { SimEndpoints } from '../../gateway/cli/sim-wiring.ts';

/** modbus-tcp and rtu-tcp (RTU through a serial device server) on loopback; rtu-pty: an RS-485 line on a socat pty at 115200 baud. */
export type SoakBus = 'modbus-tcp' | 'rtu-tcp' | 'rtu-pty';

export interface SoakStationOptions {
  bus: SoakBus;
  posts?: number;
  /** The bus's per-request timeout and retries (the close bound must not scale with retries). */
  timeoutMs: number;
  retries: number;
  flowKgPerMin?: number;
}

// Above any scale unit (1..posts), so a 32- or 128-post bus-rate run fits too (issue 14).
export const RELAY_UNIT = 200;
export const TARE_KG = 3.4; // YSP4.7, allowed fill 2 kg (examples/cylinders.csv)
export const postIds = (n: number) => Array.from({ length: n }, (_, i) => `P${i + 1}`);

/** The simulator's station document. */
export function soakStationDoc(o: SoakStationOptions): Record<string, unknown> {
  const ids = postIds(o.posts ?? 8);
  return {
    name: `valve soak (${ids.length} posts on one ${o.bus} bus)`,
    control: { port: 0 },
    buses: { shared: o.bus === 'rtu-pty' ? { transport: o.bus, baud: 115200 } : { transport: o.bus } },
    posts: ids.map((id, i) => ({
      id,
      medium: 'LPG',
      flowKgPerMin: o.flowKgPerMin ?? 80,
      scale: { protocol: 'modbus', bus: 'shared', unitId: i + 1, registerMap: 'flintec-ft112', divisionKg: 0.02, noiseKg: 0.01, updateHz: 10, capacityKg: 100, seed: 100 + i },
      reader: { transport: 'tcp', suffix: '\r\n' },
      valve: { bus: 'shared', unitId: RELAY_UNIT, coil: i, feedbackInput: i, openDelayMs: 80, closeDelayMs: 120 },
    })),
    cylinders: [],
    badges: ['B1001', 'B1002', 'B1009'],
  };
}

/** The gateway config for that station, wired to the running simulator's endpoints. */
export function soakGatewayConfig(o: SoakStationOptions, endpoints: SimEndpoints, dataDir: string): GatewayConfig {
  const ids = postIds(o.posts ?? 8);
  const busUrl = endpoints['P1.valve']!.url.split('#')[0]!;
  const raw = {
    station: { code: 'ST-SOAK-0001', unit: 'HNGAS01', name: 'Valve soak' },
    dataDir,
    log: { level: 'warn' },
    buses: {
      // setAsideAfter 4 with retries 4: one job may hold the wire for up to 4 timeouts, which is what a close
      // decided meanwhile must not wait for; fewer than 5 silent attempts in a row, so no reconnect either.
      shared: { url: busUrl, timeoutMs: o.timeoutMs, retries: o.retries, setAsideAfter: 4, setAsideMs: 3000 },
    },
    posts: ids.map((id, i) => ({
      id,
      medium: 'LPG',
      // A serial line carries fewer requests a second than loopback TCP: 8 scales at 5 Hz there.
      scale: { kind: 'modbus', bus: 'shared', unit: endpoints[`${id}.scale`]!.unitId ?? i + 1, preset: 'flintec-ft112', pollHz: o.bus === 'rtu-pty' ? 5 : 10 },
      reader: { link: endpoints[`${id}.reader`]!.url },
      valve: {
        bus: 'shared',
        unit: endpoints[`${id}.valve`]!.unitId ?? RELAY_UNIT,
        coil: i,
        feedback: { kind: 'discrete', address: i, closedWhen: true },
        keepAliveMs: 300,
      },
    })),
    fill: { autoStart: true, staleAfterPolls: 6, noFlowMs: 2000 },
    eligibility: { minRefillIntervalMs: 0, allowFillerAtSeveralPosts: true },
    http: { host: '127.0.0.1', port: 0 },
  };
  const r = validateConfig(raw);
  if (!r.ok) throw new Error(`soak gateway config: ${JSON.stringify(r.errors)}`);
  return r.config;
}

/** A registry CSV with `n` fresh YSP4.7 cylinders (hex codes E2000017A1C00000 + i). */
export function soakCylinders(n: number): { csv: string; codes: string[] } {
  const codes = Array.from({ length: n }, (_, i) => `E2000017A1C${(i + 1).toString(16).toUpperCase().padStart(5, '0')}`);
  // With the fields the standards require (registered, a maker and an e-ID, no purge pending), so that
  // every cylinder is eligible and the soak is about the valve path.
  const head = 'code,valveCode,ownerUnit,model,waterVolumeL,allowedFillKg,tareKg,medium,manufacturedOn,designLifeYears,nextInspectionDue,status,valvePhase,useRegistrationNo,maker,eId,refillable,purgeRequired';
  const rows = codes.map((c, i) => `${c},V${i + 1},HNGAS01,YSP4.7,4.7,2,${TARE_KG},LPG,2024-03,8,2030-03-31,active,gas,RS-${i + 1},MK-SOAK,EID-S${i + 1},true,false`);
  return { csv: [head, ...rows].join('\n') + '\n', codes };
}

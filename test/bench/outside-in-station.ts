/**
 * The outside-in rig of issue 14 point 1, as files: the simulator's station
 * (N posts whose Modbus scales and one relay module share ONE Modbus TCP
 * connection), the gateway config pointed at it, and the registry and
 * operators CSVs. Physics per post (seeded): valve closing time 50-200 ms,
 * flow 10-30 kg/min (domain.md 4), drawn again per fill within ±10 % and ±5 %
 * by the simulator (station `spread`); noise 5 g, division 10 g. YSP4.7
 * cylinders: allowed 2.0 kg, so the gateway's target is 1.9 kg.
 */
import { mulberry32 } from '../../sim/physics.ts';

export const RELAY_UNIT = 200;
export const TARE_KG = 3.4;
export const ALLOWED_KG = 2.0;
export const TARGET_KG = 1.9;
export const DIVISION_KG = 0.01;
export const NOISE_KG = 0.005;
export const postIds = (n: number) => Array.from({ length: n }, (_, i) => `P${i + 1}`);
/** Relay module channels: coil i and feedback input i for post i, start button at input n + i. */
export const startInputOf = (i: number, n: number) => n + i;

export interface PostPhysics {
  flowKgPerMin: number;
  closeDelayMs: number;
}

/** Each post's own pump and valve, drawn once per post from the run's seed. */
export function postPhysics(n: number, seed: number): PostPhysics[] {
  const r = mulberry32(seed);
  return postIds(n).map(() => ({ flowKgPerMin: 10 + 20 * r(), closeDelayMs: 50 + 150 * r() }));
}

/** `physics` replaces the drawn per-post figures (a test that needs a post the naive controller must overfill). */
export function stationDoc(n: number, seed: number, physics?: PostPhysics[]): Record<string, unknown> {
  const phys = physics ?? postPhysics(n, seed);
  return {
    name: `outside-in bench (${n} posts, one Modbus TCP bus)`,
    control: { port: 0 },
    buses: { shared: { transport: 'modbus-tcp' } },
    posts: postIds(n).map((id, i) => ({
      id,
      medium: 'LPG',
      flowKgPerMin: phys[i]!.flowKgPerMin,
      spread: { flowPct: 5, closeDelayPct: 10, seed: seed * 1000 + i },
      // The indicator updates at 50 Hz (FT-112 class), so the 10 Hz poll, not the display, sets the sample age.
      scale: { protocol: 'modbus', bus: 'shared', unitId: i + 1, registerMap: 'flintec-ft112', divisionKg: DIVISION_KG, noiseKg: NOISE_KG, updateHz: 50, capacityKg: 30, seed: seed * 7 + i },
      reader: { transport: 'tcp', suffix: '\r\n' },
      valve: { bus: 'shared', unitId: RELAY_UNIT, coil: i, feedbackInput: i, startInput: startInputOf(i, n), openDelayMs: 80, closeDelayMs: phys[i]!.closeDelayMs, watchdogMs: 2000 },
    })),
    cylinders: [],
    badges: [],
  };
}

interface Endpoint {
  url: string;
  unitId?: number;
}

/** The gateway's config: shipped defaults except what the rig is (bus, division, devices). */
export function gatewayConfig(n: number, devices: Record<string, Endpoint>, dataDir: string, httpPort: number): Record<string, unknown> {
  const busUrl = devices['P1.valve']!.url.split('#')[0]!;
  return {
    station: { code: 'ST-BENCH-0001', unit: 'HNGAS01', name: 'Outside-in bench' },
    dataDir,
    log: { level: process.env.OUTSIDE_IN_LOG ?? 'warn' },
    buses: { shared: { url: busUrl } },
    posts: postIds(n).map((id, i) => ({
      id,
      medium: 'LPG',
      scale: { kind: 'modbus', bus: 'shared', unit: i + 1, preset: 'flintec-ft112', pollHz: 10 },
      reader: { link: devices[`${id}.reader`]!.url },
      valve: { bus: 'shared', unit: RELAY_UNIT, coil: i, feedback: { kind: 'discrete', address: i, closedWhen: true }, keepAliveMs: 500, relayWatchdogMs: 2000 },
      startInput: { bus: 'shared', unit: RELAY_UNIT, address: startInputOf(i, n), pollHz: 5 },
    })),
    fill: { divisionKg: DIVISION_KG },
    http: { host: '127.0.0.1', port: httpPort },
  };
}

/** One fresh YSP4.7 code per fill (a filled cylinder placed again would be refused as refilled too soon). */
export function cylindersCsv(count: number): { csv: string; codes: string[] } {
  const codes = Array.from({ length: count }, (_, i) => `E2000017A1D${(i + 1).toString(16).toUpperCase().padStart(5, '0')}`);
  const head = 'code,valveCode,ownerUnit,model,waterVolumeL,allowedFillKg,tareKg,medium,manufacturedOn,designLifeYears,nextInspectionDue,status,valvePhase,useRegistrationNo,maker,eId,refillable,purgeRequired';
  const rows = codes.map((c, i) => `${c},V${i + 1},HNGAS01,YSP4.7,4.7,${ALLOWED_KG},${TARE_KG},LPG,2024-03,8,2030-03-31,active,gas,RS-${i + 1},MK-BENCH,EID-B${i + 1},true,false`);
  return { csv: [head, ...rows].join('\n') + '\n', codes };
}

/** A filler per post (one filler, one post) and a supervisor who clears faults. */
export function operatorsCsv(n: number): string {
  const rows = postIds(n).map((_, i) => `${fillerOf(i)},Filler ${i + 1},filler;checker,TS-P-41-2023-${String(i + 1).padStart(4, '0')},2030-06-30`);
  return ['badge,name,roles,certificateNo,certificateExpires', ...rows, `${SUPERVISOR},Supervisor,supervisor,,`].join('\n') + '\n';
}

export const fillerOf = (i: number) => `B${2000 + i}`;
export const SUPERVISOR = 'B1009';

/**
 * A simulated station and a gateway config pointing at it, for the doctor,
 * scan and sniff tests. Everything over real TCP on ephemeral ports.
 */
import { startSimulator, type Simulator } from '../../sim/index.ts';
import type { StationInput } from '../../sim/station.ts';
import { validateConfig, type GatewayConfig } from '../../gateway/config/config.ts';

/**
 * Bus mb (Modbus TCP): P1 scale (FT-112 map) unit 1, relay module unit 2, P3 scale unit 3
 * whose weight is sent low word first. Bus rtu (RTU over TCP): check scale (C500 map) unit 5.
 * P2: an XK3190-A9 stream scale. Readers on TCP. No noise, so weights are exact.
 */
export function diagStation(): StationInput {
  return {
    name: 'diag',
    buses: { mb: { transport: 'modbus-tcp' }, rtu: { transport: 'rtu-tcp' } },
    posts: [
      {
        id: 'P1',
        scale: { protocol: 'modbus', bus: 'mb', unitId: 1, registerMap: 'flintec-ft112', divisionKg: 0.02, noiseKg: 0 },
        reader: {},
        valve: { bus: 'mb', unitId: 2, coil: 0, feedbackInput: 0, startInput: 1, stopInput: 2 },
      },
      {
        id: 'P2',
        scale: { protocol: 'xk3190-a9', divisionKg: 0.02, noiseKg: 0, framesPerSecond: 20 },
        reader: { suffix: '\r\n' },
        valve: { bus: 'mb', unitId: 2, coil: 1, feedbackInput: 3 },
      },
      {
        id: 'P3',
        scale: {
          protocol: 'modbus',
          bus: 'mb',
          unitId: 3,
          registerMap: { weightAddress: 0, type: 'int32', wordOrder: 'little', decimals: 2 },
          divisionKg: 0.01,
          noiseKg: 0,
        },
        reader: {},
        valve: { bus: 'mb', unitId: 2, coil: 2, feedbackInput: 4 },
      },
    ],
    checkScale: { protocol: 'modbus', bus: 'rtu', unitId: 5, registerMap: 'rinstrum-c500', divisionKg: 0.01, noiseKg: 0 },
    cylinders: [{ code: 'CYL1', tareKg: 16.5, residualKg: 0.6 }],
    badges: ['B1001'],
  };
}

export function startDiagSim(): Promise<Simulator> {
  return startSimulator(diagStation(), { portsFromZero: true });
}

export interface ConfigTweaks {
  p1ScaleUnit?: number;
  checkScaleUnit?: number;
  /** Include post P3 (its scale is read high word first, but the device sends low word first). */
  withP3?: boolean;
}

const noFragment = (url: string) => url.replace(/#.*$/, '');

/** The gateway config for the simulated station, validated like a file would be. */
export function diagConfig(sim: Simulator, t: ConfigTweaks = {}): GatewayConfig {
  const ep = sim.deviceEndpoints();
  const at = (id: string) => {
    const e = ep[id];
    if (!e) throw new Error(`simulator has no ${id} (has ${Object.keys(ep).join(', ')})`);
    return noFragment(e.url);
  };
  const valve = (coil: number, fb: number) => ({ bus: 'mb', unit: 2, coil, feedback: { kind: 'discrete', address: fb, closedWhen: true } });
  const posts: unknown[] = [
    {
      id: 'P1',
      medium: 'LPG',
      scale: { kind: 'modbus', bus: 'mb', unit: t.p1ScaleUnit ?? 1, preset: 'flintec-ft112' },
      reader: { link: at('P1.reader') },
      valve: valve(0, 0),
      startInput: { bus: 'mb', unit: 2, address: 1 },
      stopInput: { bus: 'mb', unit: 2, address: 2 },
    },
    {
      id: 'P2',
      medium: 'LPG',
      scale: { kind: 'stream', link: at('P2.scale'), format: 'xk3190-a9' },
      reader: { link: at('P2.reader') },
      valve: valve(1, 3),
    },
  ];
  if (t.withP3) {
    posts.push({
      id: 'P3',
      medium: 'LPG',
      scale: { kind: 'modbus', bus: 'mb', unit: 3, preset: 'generic', overrides: { weight: { address: 0, type: 'int32', wordOrder: 'big' }, decimals: 2, capacityKg: 150 } },
      reader: { link: at('P3.reader') },
      valve: valve(2, 4),
    });
  }
  const raw = {
    station: { code: 'T1', unit: 'U1' },
    buses: { mb: { url: at('P1.scale') }, rtu: { url: at('check.scale') } },
    posts,
    checkScale: { kind: 'modbus', bus: 'rtu', unit: t.checkScaleUnit ?? 5, preset: 'rinstrum-c500' },
  };
  const r = validateConfig(raw);
  if (!r.ok) throw new Error(`test config invalid: ${JSON.stringify(r.errors)}`);
  return r.config;
}

/**
 * The Modbus gas detector controller and cut-off valve over Modbus RTU on a pty (socat): the
 * controller (unit 4) and the cut-off valve's relay (unit 2, the fill valves' relay module)
 * share the RS-485 line with P1's scale, through one arbiter. Level 2 → the trip coil is written
 * ON over RTU and the closed switch acknowledged; a controller that stops answering is silent and
 * locks the station. The full mid-fill scenario is leak-modbus.test.ts (Modbus TCP).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startRig, type Rig } from './rig.ts';
import { missing, skipIf } from '../fixtures/needs.ts';
import { leakDetectorSchema, cutoffValveSchema } from '../../gateway/config/leak-devices.ts';
import { coilWrites } from '../fixtures/wire-log.ts';

const haveSocat = !missing('socat');
const it = skipIf(test, missing('socat'));
let rig: Rig;

test.before(async () => {
  if (!haveSocat) return;
  rig = await startRig({
    stationFile: 'examples/station-pty.yaml',
    gatewayFile: 'examples/gateway-pty.yaml',
    stationTweak: (doc) => {
      doc.gasDetectors = [{ id: 'GD1', bus: 'rs485', unitId: 4, registerMap: 'generic', sensors: ['ld-P1'] }];
      doc.cutoffValves = [{ id: 'cv-main', bus: 'rs485', unitId: 2, coil: 6, feedbackInput: 6, closeDelayMs: 200 }];
    },
    preWire: (cfg) => {
      cfg.leakDetectors = [leakDetectorSchema.parse({ id: 'GD1', bus: 'rs485', unit: 4, preset: 'generic', pollMs: 300, channels: [{ id: 'ld-P1', location: 'P1' }] })];
      cfg.cutoffValves = [cutoffValveSchema.parse({ id: 'cv-main', bus: 'rs485', unit: 2, coil: 6, feedback: { address: 6 }, pollMs: 300 })];
      cfg.leak = { silentAfterMs: 1500, cutoffAckTimeoutMs: 1000, cutoffRetries: 3 };
    },
  });
  await rig.until('ld-P1 reported', () => rig.station.leak!.interlock.state.detectors['ld-P1']!.lastAt !== undefined, 10_000);
});
test.after(async () => {
  await rig?.close();
});

it('over RTU on a pty: level 2 energises the trip coil, the closed switch acknowledges it; silence locks', async () => {
  assert.ok(rig.config.buses.rs485!.url.startsWith('modbus-rtu:///'), rig.config.buses.rs485!.url);
  assert.ok(!rig.station.leak!.locked);
  const since = rig.sim.wire.lastSeq;
  rig.sim.gas('ld-P1', { lel: 70 });
  await rig.until('cut-off acknowledged', () => rig.station.leak!.interlock.state.cutoffs['cv-main']!.phase === 'closed', 10_000);
  const log = rig.sim.wire.entries({ since });
  const gas = log.find((e) => e.kind === 'gas')!;
  assert.ok(coilWrites(log, { bus: 'rs485', unitId: 2, coil: 6 }).some((w) => w.on && w.t > gas.t), 'trip coil written ON over RTU');
  assert.ok(log.some((e) => e.kind === 'cutoff' && e.on === true));
  assert.ok(rig.station.lockState.some((l) => l.lock === 'leak'));
  rig.sim.gas('ld-P1', { lel: 0 });
  await rig.until('clear', () => rig.station.leak!.interlock.state.detectors['ld-P1']!.level === 0, 5000);
  assert.ok(rig.station.leak!.reset('B1009').ok);
  rig.sim.setFault({ device: 'GD1.detector', kind: 'no-answer' });
  await rig.until('silent lock', () => rig.station.lockState.some((l) => l.lock === 'leak'), 8000);
  assert.match(rig.station.latches.get('leak')!.detail ?? '', /ld-P1: silent/);
  // The scale on the same line kept answering while the controller was silent (set aside by the arbiter).
  const scale = rig.station.devices.health().find((h) => h.device === 'P1.scale')!;
  assert.is(scale.state, 'online');
  rig.sim.clearFaults('GD1.detector');
});

test.run();

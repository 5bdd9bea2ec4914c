/**
 * The `leakDetectors` and `cutoffValves` sections: gas detector controllers and emergency
 * cut-off valves reached over Modbus (seeds 001/003/004: 可燃气体探测器及燃气紧急切断阀;
 * domain.md 5). They feed the same leak interlock as the MQTT detectors and cut-off valves
 * (gateway/leak/interlock.ts): level 1, a fault or a silent detector locks the station; level 2
 * also closes every cut-off valve; reopening a cut-off valve is manual (CJ/T 394).
 * Cross-field rules (bus defined, ids unique, coils not shared) are in leak-checks.ts.
 */
import { z } from 'zod';
import { leakDetectorMaps } from '../../devices/leak/presets.ts';

const id = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'letters, digits, - and _ only (max 32)');
const unitId = z.number().int().min(0).max(255).describe('Modbus unit (slave) id: 1..247 on RTU, 0..255 on Modbus TCP');
const address = z.number().int().min(0).max(65535);
const location = z.string().min(1).optional().describe('Where it is: a post id or an area ("yard"); leak alarms name it. The lock is station-wide whatever it says (one filling address)');

export const leakChannelSchema = z.object({
  id: id.describe("The detector's id in alarms, the interlock and the dashboard (e.g. ld-P1); unique among every leak device, MQTT ones included"),
  channel: z.number().int().min(1).default(1).describe("The controller's channel (sensor) number: its registers come from the preset"),
  lelRegister: address.optional().describe("Register of this channel's %LEL (wire address, 0-based), instead of the preset's"),
  statusRegister: address.optional().describe("Register of this channel's status bits, instead of the preset's"),
  location,
});

export const leakDetectorSchema = z.object({
  id: id.describe('The controller (one Modbus unit), as /status, /metrics and doctor name it'),
  bus: id.describe('Name of a bus under buses: (may be the relay module\'s RS-485 line or Modbus TCP connection)'),
  unit: unitId,
  preset: z.string().default('generic').describe(`Register map: ${Object.keys(leakDetectorMaps).join(', ')} (devices/leak/presets.ts; none verified on a device yet)`),
  registerType: z.enum(['holding', 'input']).optional().describe("FC03 holding or FC04 input registers, instead of the preset's"),
  lelScale: z.number().positive().optional().describe("%LEL per raw count, instead of the preset's (0.1 for tenths)"),
  lelOffset: z.number().optional().describe("%LEL added after scaling, instead of the preset's"),
  bits: z
    .object({ level1: z.number().int().min(0).max(15), level2: z.number().int().min(0).max(15), fault: z.number().int().min(0).max(15) })
    .optional()
    .describe("Status bits of level 1, level 2 and fault, instead of the preset's"),
  noStatus: z.boolean().default(false).describe('Read %LEL only: the levels then come from level1Lel/level2Lel, and a reading above 100 %LEL is a fault'),
  level1Lel: z.number().min(1).max(100).default(25).describe('First alarm without a status register (%LEL; GB/T 50493: ≤ 25)'),
  level2Lel: z.number().min(1).max(100).default(50).describe('Second alarm without a status register (%LEL; GB/T 50493: ≤ 50)'),
  pollMs: z.number().min(100).max(10_000).default(1000).describe('Poll period (ms); a detector that stops answering is silent after leak.silentAfterMs, so keep this well below it'),
  channels: z.array(leakChannelSchema).min(1, 'at least one channel').describe('The sensors of this controller that the interlock watches'),
});

export const cutoffValveSchema = z.object({
  id: id.describe("The cut-off valve's id in alarms and the interlock; unique among every leak device, MQTT ones included"),
  bus: id.describe('Name of a bus under buses: (the relay module, often the one driving the fill valves)'),
  unit: unitId,
  coil: address.describe('Coil (wire address) that drives the valve closed when ON: the trip coil of a CJ/T 394 valve through a relay. The gateway never opens it: reopening is by hand'),
  closePulseMs: z.number().min(50).max(60_000).optional().describe('Release the coil after this long (valves with a latching trip); omit to hold it ON until the next reset'),
  feedback: z
    .object({ kind: z.enum(['discrete', 'coil']).default('discrete'), address, closedWhen: z.boolean().default(true) })
    .describe("The valve's closed-position switch: the interlock counts a close as done only when this says closed"),
  pollMs: z.number().min(100).max(10_000).default(500).describe('Feedback poll period (ms)'),
  location,
});

export type LeakDetectorConfig = z.infer<typeof leakDetectorSchema>;
export type CutoffValveConfig = z.infer<typeof cutoffValveSchema>;

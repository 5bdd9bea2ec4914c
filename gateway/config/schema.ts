/**
 * The station's gateway configuration: one YAML file, this schema is the single
 * source of truth for its types, defaults, validation and documentation
 * (docs/configuration.md's table is generated from it, see docs.ts). Every
 * default says where its number comes from (../shared/domain.md unless stated).
 * Cross-field rules (buses defined, unit ids, coils, media) live in checks.ts.
 */
import { z } from 'zod';

const id = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'letters, digits, - and _ only (max 32)');
export const LINK_URL_MESSAGE = 'a stream link: serial:///dev/ttyUSB0?baud=9600 or tcp://host:port';
export const BUS_URL_MESSAGE = 'a Modbus bus: modbus-tcp://host:502, modbus-rtu:///dev/ttyUSB0?baud=9600 or modbus-rtu-tcp://host:4001';
const linkUrl = z.string().regex(/^(serial|tcp):\/\//, LINK_URL_MESSAGE);
const busUrl = z.string().regex(/^modbus-(tcp|rtu|rtu-tcp):\/\//, BUS_URL_MESSAGE);
/** Unit id range over all framings; RTU's narrower 1..247 is checked in checks.ts where the bus is known. */
const unitId = z.number().int().min(0).max(255).describe('Modbus unit (slave) id: 1..247 on RTU, 0..255 on Modbus TCP');

export const busSchema = z.object({
  url: busUrl.describe('modbus-tcp://host:502, modbus-rtu:///dev/ttyUSB0?baud=9600&parity=even, or modbus-rtu-tcp://host:4001 (RTU through a device server)'),
  gapMs: z.number().min(0).max(1000).optional().describe('Silence between two requests (ms); default 0 on Modbus TCP, 3.5 characters (≥ 5 ms) on RTU'),
  timeoutMs: z.number().min(10).max(10_000).default(300).describe('A unit that has not answered after this long (ms) has timed out'),
  retries: z.number().int().min(0).max(5).default(1).describe('Retries after a timeout or a garbled reply (never after a Modbus exception)'),
  setAsideAfter: z.number().int().min(1).default(3).describe('Consecutive failures after which a unit is set aside so it cannot starve the bus (domain.md 7)'),
  setAsideMs: z.number().min(100).default(5000).describe('How long a set-aside unit is skipped before one probe (ms)'),
  maxInFlight: z
    .number()
    .int()
    .min(1)
    .max(16)
    .default(1)
    .describe('Modbus TCP only: requests on the wire at once, matched by transaction id; only for devices or gateways that accept pipelined requests. A valve close still takes the next free slot'),
  assumedRttMs: z
    .number()
    .positive()
    .optional()
    .describe('Modbus TCP: round trip of one request to the device (ms), for config check to size the polling against (default 5; fillgate doctor measures it)'),
  relayModules: z
    .array(
      z.object({
        unit: unitId,
        writeMultipleCoils: z.boolean().default(false).describe("The module takes FC15: one keep-alive write for every run of adjacent valve coils instead of one per valve (devices.md 5: Moxa ioLogik E1214, Waveshare)"),
        batchFeedback: z.boolean().default(true).describe("Read the feedback of every valve on the module in one request (FC02/FC01 over the span of their inputs)"),
      }),
    )
    .optional()
    .describe('Relay modules on this bus that carry several valves: how their keep-alives and feedback reads are shared (devices/valve/README.md). A module not listed reads feedback in one request and keeps every valve alive with its own FC05'),
});

const modbusScale = z.object({
  kind: z.literal('modbus').describe('modbus: a weighing indicator polled over a bus'),
  bus: id.describe('Name of a bus under buses:'),
  unit: unitId,
  preset: z.string().default('generic').describe('Register map preset: generic, flintec-ft112, rinstrum-c500, minebea-pr5410, mettler-ind570, cas-ci600d (devices/scale/presets)'),
  overrides: z.record(z.string(), z.unknown()).optional().describe("Fields of the preset's register map to change (null removes one)"),
  pollHz: z.number().min(1).max(50).default(10).describe('Poll rate; the cut-off reacts within one poll period (issue 2: up to 50 Hz)'),
  idlePollHz: z
    .number()
    .min(2)
    .max(50)
    .optional()
    .describe("Poll rate while the post is idle with an empty scale; the scale goes back to pollHz as a cylinder is placed or scanned and stays there until the post is idle and empty again. Default: pollHz (no slowdown)"),
  setpointLimit: z
    .boolean()
    .optional()
    .describe(
      "Program the indicator's own setpoint at tare + allowed fill mass before every open and read it back; refuse to open on a mismatch (a second, independent limit: wire the setpoint output to cut the valve power). Default: on where the preset has a setpoint map (README: presets); true without one is an error",
    ),
});

const streamScale = z.object({
  kind: z.literal('stream').describe('stream: an indicator that sends frames by itself (continuous output)'),
  link: linkUrl.describe('serial:///dev/ttyUSB0?baud=9600 or tcp://device-server:4001'),
  format: z.enum(['xk3190-a9', 'toledo', 'ascii']).describe('Frame format (devices.md 2.1, 3.1)'),
  formatOptions: z.record(z.string(), z.unknown()).optional().describe('Format options, e.g. decimals'),
  staleAfterMs: z.number().min(50).default(500).describe('No good frame for this long → the scale is offline (ms)'),
  capacityKg: z
    .number()
    .positive()
    .optional()
    .describe("Scale capacity (kg): a reading beyond 110 % of it without the overload flag is discarded (domain.md 4: 1.5-3 × the usual load). Default: not checked"),
  plausibility: z
    .object({
      maxFlowKgPerMin: z.number().positive().default(30).describe('The fastest a fill adds mass (kg/min); a faster change is a step that must be confirmed (domain.md 4: 10-30 kg/min)'),
      jumpKg: z.number().min(0).default(0.5).describe('Change between two frames always allowed on top of the flow: noise and rounding (kg)'),
      confirmFrames: z.number().int().min(1).max(20).default(3).describe('A step (cylinder placed or lifted), the first reading, or a flag clearing on a format without a check character, counts once this many consecutive frames agree; the frames before are discarded and counted'),
    })
    .optional()
    .describe('Plausibility filter for stream scales (issue 12 point 11): jumps beyond flow, sign flips and swapped digits are discarded and counted'),
});

export const scaleSchema = z.discriminatedUnion('kind', [modbusScale, streamScale]);

export const codeRuleSchema = z
  .object({
    match: z.enum(['hex', 'numeric', 'url', 'regex']),
    kind: z.enum(['cylinder', 'badge']),
  })
  .passthrough();

export const readerSchema = z.object({
  link: linkUrl.describe('serial:///dev/ttyUSB0?baud=9600 or tcp://device-server:4001'),
  prefix: z.string().optional().describe('Characters the reader puts before each code, removed'),
  suffix: z.string().optional().describe('Characters the reader puts after each code, removed'),
  dedupMs: z.number().min(0).default(1500).describe('The same code again within this window is one read (ms)'),
});

const coilRef = z.object({ bus: id.describe('Name of a bus under buses:'), unit: unitId });

const valveSchema = coilRef.extend({
  coil: z.number().int().min(0).max(65535).describe('Coil (wire address, 0-based) that energises the fill valve; OFF = closed'),
  feedback: z
    .object({ kind: z.enum(['discrete', 'coil']), address: z.number().int().min(0), closedWhen: z.boolean() })
    .optional()
    .describe('Limit switch telling whether the valve really closed'),
  confirmTimeoutMs: z.number().min(50).default(500).describe('An open or close not confirmed by feedback within this time is a fault (ms)'),
  keepAliveMs: z.number().min(50).optional().describe("Rewrite the coil this often so the module's comms watchdog closes the valve if the gateway goes silent (devices.md 5)"),
  relayWatchdogMs: z
    .number()
    .min(1)
    .optional()
    .describe("The relay module's own host (comms) watchdog time as it is configured on the module (ms): silent this long, the module drops the coil. Not sent to the module; config check sizes it against the post's flow (devices/valve/README.md)"),
});

const inputSchema = coilRef.extend({
  kind: z.enum(['discrete', 'coil']).default('discrete').describe('discrete input (FC02) or coil (FC01)'),
  address: z.number().int().min(0).describe('Wire address (0-based)'),
  pollHz: z.number().min(1).max(50).default(10).describe('Poll rate of the button'),
});

export const fillSchema = z.object({
  divisionKg: z.number().positive().default(0.02).describe('Scale division e (kg): 20 g or 50 g for class III filling scales (domain.md 4)'),
  staleAfterPolls: z.number().int().min(1).default(3).describe('No fresh weight sample for this many poll periods → trip (issue 3)'),
  noFlowMs: z.number().min(500).default(4000).describe('Weight must rise by noFlowMinKg within this time while filling, else trip (ms)'),
  noFlowMinKg: z.number().positive().default(0.05).describe('Least rise that counts as flow within noFlowMs (kg)'),
  dropTripKg: z.number().positive().default(0.5).describe('A drop by more than this while filling trips (cylinder removed, hose break) (kg)'),
  maxFillMs: z.number().min(1000).default(360_000).describe('Maximum fill duration (ms): a YSP118 (49.5 kg) at 10 kg/min takes 5 min'),
  toleranceKg: z.number().positive().default(0.1).describe('Check-weigh tolerance around the target (kg); carousel accuracy ±100 g (domain.md 4)'),
  preact: z
    .object({
      initialKg: z.number().min(0).default(0.1).describe('In-flight mass assumed before any is learned (kg)'),
      minKg: z.number().min(0).default(0).describe('Learned preact is clamped to at least this (kg)'),
      maxKg: z.number().min(0).default(1.5).describe('Learned preact is clamped to at most this (kg)'),
    })
    .default({ initialKg: 0.1, minKg: 0, maxKg: 1.5 })
    .describe('Cut-off ahead of the target by the mass still in flight, learned per cylinder model (domain.md 4)'),
  cutoff: z
    .object({
      lagMaxMs: z.number().min(0).default(220).describe('Largest plausible valve closing lag (ms): cut-off of a first fill, a new cylinder model or a changed valve (domain.md 4: 50-200 ms, ±10 % per fill)'),
      busMarginMs: z.number().min(0).default(50).describe('Room for the bus and the event loop between a close decision and the OFF on the wire (ms), added to the largest lag'),
      singleShotKg: z.number().positive().optional().describe('A learned single cut-off is used while flow × twice the learned lag spread stays within this (kg); above it the fill ends with one measured top-up pulse. Default 0.8 division'),
      changeMs: z.number().positive().default(40).describe('A close dead time this far (ms; or 4 × the learned spread) from the learned one means the valve changed: the next fill cuts off conservatively'),
      learnGain: z.number().gt(0).max(1).default(0.3).describe('Weight of each new measurement in the learned valve timing'),
    })
    .default({ lagMaxMs: 220, busMarginMs: 50, changeMs: 40, learnGain: 0.3 })
    .describe('Cut-off planned from the valve timing learned on the wire (weight curve and feedback input), per post and valve (issue 14)'),
  topUp: z
    .object({
      minPulseMs: z.number().min(20).default(50).describe('Shortest top-up pulse (ms): each pulse is sized from the measured flow and the valve timing'),
      maxPulses: z.number().int().min(0).default(4).describe('Top-up pulses at most; 0 = never top up'),
      toleranceKg: z.number().positive().optional().describe('Top up while the settled content is below target − this (kg); default half a division'),
    })
    .default({ minPulseMs: 50, maxPulses: 4 }),
  autoStart: z.boolean().default(false).describe("Start once the verified cylinder's weight is stable, instead of waiting for the start button"),
  maxFlowKgPerMin: z
    .number()
    .positive()
    .default(30)
    .describe("Highest flow the post's pump and gun deliver (kg/min): config check sizes the relay watchdog with it, and a rise faster than twice this is a step (a lift, swap or lean), not flow (domain.md 4: 10-30 kg/min, unsure; the upper end by default)"),
  postFillCheckRequired: z
    .boolean()
    .default(true)
    .describe('A cylinder that leaves without its post-fill check (checker badge and re-weigh) is recorded as filled_unchecked, never filled, and raises an alarm (domain.md 1: 充装前后检查记录); false keeps the tolerance outcome but still flags and alarms it'),
  stepChangeKg: z.number().positive().default(0.2).describe('From the scan until the valve closes, a stable weight this far from the weight at the scan, or a jump between samples beyond flow by this much, ends the attempt: CYLINDER_SWAPPED (kg; 10 divisions of 20 g)'),
  unauthorisedRiseKg: z.number().positive().default(0.5).describe('A weight rise beyond this with no open attempt or with the valve closed raises UNAUTHORISED_FILL (kg; seed 000: 不具备追溯功能的充装设备，一律不得使用)'),
  lockOnUnauthorisedFill: z.boolean().default(true).describe('An unauthorised fill locks the post until a supervisor resets it'),
});

export const postSchema = z.object({
  id: id.describe('Post (gun) number as records and the regulator name it'),
  medium: z.enum(['LPG', 'DME']).describe('The one medium this post fills; a station fills LPG or DME, never both (domain.md 1)'),
  scale: scaleSchema.describe("The post's filling scale"),
  reader: readerSchema.describe('The code reader (RFID or QR) at the post'),
  valve: valveSchema.describe('The fill valve: a relay coil on a Modbus I/O module'),
  startInput: inputSchema.optional().describe('Start button'),
  stopInput: inputSchema.optional().describe('Stop button'),
  fill: fillSchema.partial().optional().meta({ description: 'Per-post changes to the station-wide fill: settings, any of its keys', 'x-same-as': 'fill' }),
});

export type BusConfig = z.infer<typeof busSchema>;
export type ScaleConfig = z.infer<typeof scaleSchema>;
export type PostConfig = z.infer<typeof postSchema>;
export type FillSettings = z.infer<typeof fillSchema>;

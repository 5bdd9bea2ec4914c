/**
 * A starting point for an indicator without a preset. Copy the fields below into
 * the station config as overrides (`scale.preset: generic` + `scale.overrides: {...}`,
 * e.g. `overrides: { weight: { address: 4, wordOrder: little }, decimals: 3 }`; `null`
 * removes a field) and set each one from the indicator's Modbus chapter.
 */
import type { ScalePreset } from './preset.ts';

export const generic: ScalePreset = {
  name: 'generic',
  title: 'Generic Modbus indicator (template)',
  sources: ['Modbus Application Protocol Specification V1.1b3 (function codes 3, 4, 5, 6)'],
  verified: false,
  notes: [
    'setpoint: { address, type, wordOrder?, decimals? }: the holding register(s) of a setpoint that switches an output at ' +
      'gross ≥ setpoint, if the manual documents one. The gateway then programs it at tare + allowed fill mass before every ' +
      'open and reads it back (scale.setpointLimit). Leave it out if the manual has none.',
    'function: 3 for holding registers (4xxxx), 4 for input registers (3xxxx).',
    'Addresses are wire addresses (0-based): manual number 40001 or register "1" in a 1-based table is address 0. ' +
      'If every value looks shifted by one register, the manual counts from 1.',
    'weight.type: int32 for most integer indicators, float32 for floating-point formats; int16 only for small capacities.',
    'weight.wordOrder: "big" when the manual says high word first (H then L); "little" for low word first.',
    'weight.byteSwap: only if the manual (or a wrong reading like 256 instead of 1) says bytes are swapped inside a word.',
    'weight.kind: "gross" when the register is always gross. "displayed" when it follows the display (gross or net); ' +
      'then status.net is required and samples in net mode are refused.',
    'decimals: digits after the decimal point when the indicator sends an integer (e.g. 2 for 12.34 kg as 1234); ' +
      'or kgPerCount (e.g. 0.02 for an indicator that sends divisions of 20 g). Neither: the value is already kg.',
    'capacityKg: the scale capacity; readings above it count as overload even without a status bit.',
    'status: the status word (uint16 or uint32) and its bits: stable or motion, overload (list), zero, net, ' +
      'decimalBits, require (bits that must hold, e.g. "data OK"). Without status every sample is stable=false.',
    'errorStatus: a second word whose fault bits (ADC error, over/under range) mark the sample as overload.',
    'commands.zero / commands.tare: { kind: "register", address, value } or { kind: "coil", address }; ' +
      'add pulseMs if the indicator does not clear the command itself. Leave out what the manual does not give.',
  ],
  map: {
    function: 3,
    weight: { address: 0, type: 'int32', wordOrder: 'big', kind: 'gross' },
    decimals: 2,
  },
};

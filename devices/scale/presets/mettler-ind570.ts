/**
 * Mettler Toledo IND570 with the EtherNet/IP - Modbus TCP option, Data Format "Floating Point", slot 1.
 * Source: IND570 PLC Interface Manual 30205335 ch.5, App. B, App. C.2, via devices.md 1.1 [2nd]:
 * wire 0 command response, 1-2 float value, 3 scale status (bit5 always 1, bit12 motion, bit13 net, bit15 data OK).
 * One read of 4 registers covers value and status.
 */
import type { ScalePreset } from './preset.ts';

export const mettlerInd570: ScalePreset = {
  name: 'mettler-ind570',
  title: 'Mettler Toledo IND570 (Modbus TCP, floating point, slot 1)',
  sources: [
    'IND570 PLC Interface Manual 30205335, https://www.mt.com/dam/product_organizations/industry/IndustrialTerminals/30205335_12_MAN_PLC_IND570_EN.pdf',
  ],
  verified: false,
  notes: [
    'Setpoint limit: none. The IND570 sets a target through the slot\'s command mailbox (FP value, then command 110, success = echoed value; comparator 1 = status bit 1), [2nd]-hand; that protocol is not a plain setpoint register and is not implemented.',
    'All facts are [2nd]-hand (a third party\'s transcription of the manual); check against the PDF.',
    'Assumes the terminal\'s byte order is set to "Double Word Swap" (Modicon-compatible, high word first). ' +
      'With the default "Word Swap" override weight.wordOrder to "little".',
    'The slot reports gross after power-up (command 0); a sticky command 11 makes it report net. ' +
      'The weight is therefore "displayed" and samples are refused while the net bit (13) is set.',
    'Status bit 5 (always 1) and bit 15 (data OK) must be set, else the poll is refused (wrong address base or bad data).',
    'No overload bit in the scale status word: set capacityKg. The value is assumed to be in kg (primary unit).',
    'Zero/tare command codes were not captured (manual Table B-4): no zero/tare commands.',
  ],
  map: {
    function: 3,
    weight: { address: 1, type: 'float32', wordOrder: 'big', kind: 'displayed' },
    status: {
      address: 3,
      type: 'uint16',
      motion: { bit: 12 },
      net: { bit: 13 },
      require: [{ bit: 5 }, { bit: 15 }],
    },
  },
};

/** Platform adapters by name (upload.adapter in the config). Adding a platform: one file plus one line here. */
import { FillgateError } from '../../../protocols/errors.ts';
import { exampleProvinceAdapter } from './example-province.ts';
import { genericAdapter } from './generic.ts';
import type { PlatformAdapter } from './types.ts';

export const adapters: Record<string, PlatformAdapter> = {
  generic: genericAdapter,
  'example-province': exampleProvinceAdapter,
};

export function adapterByName(name: string): PlatformAdapter {
  const a = adapters[name];
  if (!a) throw new FillgateError('BAD_CONFIG', `upload.adapter "${name}" is unknown (known: ${Object.keys(adapters).join(', ')})`, { name });
  return a;
}

export type { PlatformAdapter, OutgoingRecord, RecordAck, BatchAck } from './types.ts';

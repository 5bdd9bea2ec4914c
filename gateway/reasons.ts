/**
 * Every reason a fill is refused or a valve is closed, each with a stable code
 * (for records, metrics and the regulator) and a message in Chinese and English
 * (for the operator). The texts live in the one message catalogue
 * (gateway/i18n/, issue 6); this module keeps the names the controller, the
 * records and the tests import.
 */
import { refusalReasons, tripReasons } from './i18n/reasons.ts';
import type { Lang, Message } from './i18n/types.ts';

export type { Lang, Message } from './i18n/types.ts';
export { refusalReasons, tripReasons } from './i18n/reasons.ts';

export type RefusalCode = keyof typeof refusalReasons;
export type TripCode = keyof typeof tripReasons;
export type ReasonCode = RefusalCode | TripCode;

export function reasonMessage(code: ReasonCode, lang: Lang = 'en'): string {
  const m = (refusalReasons as Record<string, Message>)[code] ?? (tripReasons as Record<string, Message>)[code];
  return m ? m[lang] : code;
}

/** The two languages every person-facing text is written in (issue 6: one catalogue, zh and en). */
export type Lang = 'zh' | 'en';
export const langs: readonly Lang[] = ['zh', 'en'];

export interface Message {
  zh: string;
  en: string;
}

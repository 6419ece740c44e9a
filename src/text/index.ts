// What people read — the portal's pages (sign-in, second factors, the security and account pages,
// the home page, what a failed sign-in says) and the mail Gatehouse sends — by key, in one
// catalogue per language. Handlers name keys, never sentences, so a translation is one more
// catalogue of the same keys (the type makes a missing key an error). English first.
import { EN } from './en.ts';

export type TextKey = keyof typeof EN;
type Catalogue = Record<TextKey, string>;

const CATALOGUES: Record<string, Catalogue> = { en: EN };

export type Vars = Record<string, string | number>;

/**
 * The text of `key` in `lang` (English when that language or key is missing), with each
 * `{name}` replaced by vars[name]. Values are plain text: the page layer escapes them.
 */
export function text(key: TextKey, vars: Vars = {}, lang = 'en'): string {
  const template = (CATALOGUES[lang] ?? EN)[key] ?? EN[key];
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in vars ? String(vars[name]) : whole));
}

/** A function of key and vars bound to one language. */
export type Text = (key: TextKey, vars?: Vars) => string;

export function textFor(lang = 'en'): Text {
  return (key, vars) => text(key, vars, lang);
}

export const LANGUAGES: readonly string[] = Object.keys(CATALOGUES);

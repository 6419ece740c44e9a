import { readFileSync } from 'node:fs';

/** The release, from package.json (read once at start-up). */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;

// @simplewebauthn/browser's own bundle (it defines window.SimpleWebAuthnBrowser), read from the
// installed package and served as a static asset: no CDN, the version the server was built with.
import { readFileSync } from 'node:fs';

// The package's entry is esm/index.js; its browser bundle sits in dist/bundle/.
export const WEBAUTHN_BROWSER_SOURCE = readFileSync(
  new URL('../dist/bundle/index.umd.min.js', import.meta.resolve('@simplewebauthn/browser')),
  'utf8',
);

// @gatehouse/edge: Gatehouse sign-in for apps on Cloudflare Workers and other WinterTC runtimes.
// Web APIs only (fetch, Request/Response, Web Crypto): no Node.js modules.
export { protect, createGate, parseCookies, IDENTITY_HEADERS, type Next } from './protect.ts';
export { readSettings, EdgeConfigError, CALLBACK_PATH, SIGN_OUT_PATH, DEFAULT_LIFETIME, type EdgeEnv, type Settings } from './settings.ts';
export {
  compilePolicy,
  normalizePath,
  assetAliases,
  ruleProblems,
  type Rule,
  type Subject,
  type Identity,
  type Decision,
  type Policy,
} from './rules.ts';
export { createSealer, type Sealer } from './seal.ts';
export { checkWranglerConfig, parseJsonc, type WranglerCheck } from './wrangler.ts';

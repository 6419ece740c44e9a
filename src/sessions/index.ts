export { Sessions, type SessionView, type SessionOptions, type UpstreamHook } from './sessions.ts';

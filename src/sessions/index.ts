export { Sessions, type SessionView, type SessionOptions } from './sessions.ts';

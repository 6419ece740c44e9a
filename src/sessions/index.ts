export { Sessions, type SessionView } from './sessions.ts';

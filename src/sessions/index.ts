export { Sessions, type SessionView, type SessionOptions, type SessionAccounts } from './sessions.ts';

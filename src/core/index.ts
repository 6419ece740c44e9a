export { GatehouseError, isGatehouseError, toWire, type ErrorKind } from './errors.ts';
export { systemClock, ManualClock, type Clock } from './clock.ts';
export { randomId } from './ids.ts';
export { MemoryLogger, silentLogger, type Logger } from './logger.ts';
export { parseDuration } from './duration.ts';
export { Topic } from './topic.ts';
export type { Identity } from './identity.ts';
export { LongKeyMap } from './long-key-map.ts';

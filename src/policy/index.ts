// policy: pure (request facts, identity) -> decision + reason, and explain().
export { normalizePath, readPath, type NormalizedPath, type ReadPath, type PathReading } from './path.ts';
export { hostMatches } from './host.ts';
export { compilePathPattern, type PathMatcher } from './pattern.ts';
export { compileNetworks, cidrProblem, type NetworkMatcher } from './network.ts';
export {
  compilePolicy, Policy, DEFAULT_DENY_REASON, MALFORMED_PATH_REASON, AMBIGUOUS_PATH_REASON,
  type Decision, type Action, type PolicyRequest, type ResolvedHeaderNames, type HeaderDefaults,
} from './engine.ts';
export { explain } from './explain.ts';

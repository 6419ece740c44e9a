// policy: pure (request facts, identity) -> decision + reason, and explain().
export { normalizePath, readPath } from './path.ts';
export { hostMatches } from './host.ts';
export { compilePathPattern } from './pattern.ts';
export { compileNetworks, cidrProblem } from './network.ts';
export { compilePolicy, Policy, MALFORMED_PATH_REASON, AMBIGUOUS_PATH_REASON, type Decision, type ResolvedHeaderNames } from './engine.ts';
export { explain } from './explain.ts';
export { describeSubject } from './subject.ts';
export {
  factorShortfall,
  authenticationFor,
  tokenFactorState,
  stepUpParams,
  type FactorRequirement,
  acrSatisfies,
  withMethod,
  firstFactor,
  passkeySignIn,
  describeRequirement,
  explainFactors,
  NO_FACTORS,
  ACR_VALUES,
  type FactorState,
  type AcrValue,
} from './factors.ts';

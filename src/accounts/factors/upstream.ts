// An upstream provider's word on how it signed someone in (its ID token's amr, RFC 8176) and
// whether config lets that count as a second factor here (connectors[].mfa: trust).
import { firstFactor, type FactorState } from '../../policy/index.ts';

/** amr values that say the provider used more than a password. */
const MFA_VALUES = new Set(['mfa', 'otp', 'hwk', 'swk', 'sms', 'fpt', 'face', 'iris', 'pop', 'sc']);

export function upstreamFactors(amr: readonly string[] | undefined, mfa: 'trust' | 'ignore' | undefined, now: number): FactorState {
  const said = amr ?? [];
  const counts = mfa === 'trust' && said.some((m) => MFA_VALUES.has(m));
  return firstFactor('fed', now, counts, said);
}

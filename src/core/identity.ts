// Who someone is, as rules, identity headers, tokens and pages see them: a username, an email
// (with whether it is verified) and groups. Made by accounts (stored and config groups, plus the
// groups of the upstream identity a session came from); read by policy, the gateway, sessions,
// the portal and the issuer.
export interface Identity {
  readonly username: string;
  readonly email: string | null;
  readonly emailVerified: boolean;
  readonly groups: readonly string[];
}

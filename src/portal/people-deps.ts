// What the people flows (invitation, sign-up, reset, account) need beyond the portal's own deps.
import type { Invitations, PasswordReset, SignInThrottle } from '../accounts/index.ts';
import type { Mailer } from '../mail/index.ts';
import type { UserRecord } from '../store/index.ts';

export interface PeopleOptions {
  signUp: { enabled: boolean; emailDomains: readonly string[]; groups: readonly string[]; linkLifetime: number };
  passwordReset: { enabled: boolean; linkLifetime: number };
}

export interface PeopleDeps {
  invitations: Invitations;
  reset: PasswordReset;
  mailer: () => Mailer;
  options: () => PeopleOptions;
  /** Whether an account has this address, verified (sign-up then sends nothing). */
  emailTaken: (email: string) => Promise<boolean>;
  /** Sign-up requests per address typed and per source address. */
  signUpThrottle: SignInThrottle;
  /** A sign-in happened (password, upstream, enrolment): the new-address notice. Never awaited. */
  afterSignIn: (user: UserRecord, sid: string, ip: string, device: string) => void;
  /** Links the sign-in page shows: forgot password, sign up (each only when it can work). */
  signInLinks: () => { forgot?: string; signUp?: string };
  /** The security page (second factors), when one is served: the account page links to it. */
  securityPath?: () => string | null;
}

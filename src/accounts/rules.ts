// What a username and a new password must be. One place, so enrolment, reset, the account page
// and the CLI refuse the same things with the same words (keys of the text catalogue).

export type CredentialProblem = 'username_invalid' | 'password_short' | 'password_long' | 'password_is_username';

export const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
export const MIN_PASSWORD = 8;
/** Longer is refused before hashing: argon2 of a megabyte is work an attacker chooses. */
export const MAX_PASSWORD = 256;

export function usernameProblem(username: string): CredentialProblem | null {
  return USERNAME.test(username) ? null : 'username_invalid';
}

/** Lengths count code points (what a person typed), not UTF-16 units. */
export function passwordProblem(password: string, username?: string): CredentialProblem | null {
  const n = [...password].length;
  if (n < MIN_PASSWORD) return 'password_short';
  if (n > MAX_PASSWORD) return 'password_long';
  if (username !== undefined && password.toLowerCase() === username.toLowerCase()) return 'password_is_username';
  return null;
}

// The claims a client may be given besides sub (clients[].claims): a constant of its own, so the
// issuer can name them without loading the schema.
export const CLIENT_CLAIMS = ['preferred_username', 'name', 'email', 'email_verified', 'groups'] as const;

// The English catalogue. Keys are grouped by the screen or message they belong to.
export const EN = {
  // mail: invitation
  'mail.invite.subject': 'You are invited to {site}',
  'mail.invite.body': 'Hello,\n\nYou are invited to {site}. Open this link to choose your username and how you sign in:\n\n{link}\n\nThe link works until {expires}. If you did not expect this, you can ignore this message.\n',
  // mail: sign-up verification
  'mail.signup.subject': 'Finish signing up to {site}',
  'mail.signup.body': 'Hello,\n\nSomeone (hopefully you) asked to sign up to {site} with this address. Open this link to choose your username and password:\n\n{link}\n\nThe link works until {expires}. If it was not you, ignore this message: nothing happens without the link.\n',
  // mail: password reset
  'mail.reset.subject': 'Reset your password at {site}',
  'mail.reset.body': 'Hello {username},\n\nSomeone (hopefully you) asked to reset the password of your account at {site}. Open this link to choose a new one:\n\n{link}\n\nThe link works once, for {minutes} minutes. Choosing a new password signs you out everywhere. If it was not you, ignore this message: your password stays as it is.\n',
  // mail: security notices
  'mail.password_changed.subject': 'Your password at {site} was changed',
  'mail.password_changed.body': 'Hello {username},\n\nThe password of your account at {site} was changed at {at} (from {address}). Every session was signed out.\n\nIf this was not you, contact your administrator at once.\n',
  'mail.new_address.subject': 'New sign-in to {site}',
  'mail.new_address.body': 'Hello {username},\n\nYour account at {site} was signed in to at {at} from {address}, an address we have not seen you sign in from lately ({device}).\n\nIf this was you, there is nothing to do. If not, change your password and end the session on your account page: {account}\n',
} as const;

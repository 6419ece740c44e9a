// Mail: the messages Gatehouse sends (invitations, sign-up links, password reset, security
// notices), written from the text catalogue and sent through the configured SMTP server with
// nodemailer. Without email.smtp nothing is sent: the caller learns so, and the operator hands
// links over instead. A message's link is a bearer secret: it is never logged, and a failure is
// logged with the message kind and the recipient's domain only. nodemailer is loaded with the
// first message (about 12 MiB resident once loaded; most gates never send one).
import type { Transporter } from 'nodemailer';
import type { Logger } from '../core/index.ts';
import type { Config } from '../config/index.ts';
import { text, type TextKey, type Vars } from '../text/index.ts';

type MailKind = 'invite' | 'signup' | 'reset' | 'password_changed' | 'new_address';

export interface Message {
  kind: MailKind;
  to: string;
  vars: Vars;
}

export interface Mailer {
  /** Whether mail can be sent at all (email.smtp is set). */
  readonly configured: boolean;
  /** true when the server accepted the message; false when not configured or it failed (logged). */
  send(m: Message): Promise<boolean>;
  close(): void;
}

const SUBJECT: Record<MailKind, TextKey> = {
  invite: 'mail.invite.subject',
  signup: 'mail.signup.subject',
  reset: 'mail.reset.subject',
  password_changed: 'mail.password_changed.subject',
  new_address: 'mail.new_address.subject',
};
const BODY: Record<MailKind, TextKey> = {
  invite: 'mail.invite.body',
  signup: 'mail.signup.body',
  reset: 'mail.reset.body',
  password_changed: 'mail.password_changed.body',
  new_address: 'mail.new_address.body',
};

/** Subject and plain-text body of a message (plain text: nothing to escape, nothing a client renders as markup). */
function render(m: Message, lang = 'en'): { subject: string; text: string } {
  return { subject: text(SUBJECT[m.kind], m.vars, lang), text: text(BODY[m.kind], m.vars, lang) };
}

/** Only what identifies a message without its secret: its kind and the recipient's domain. */
function describe(m: Message): { kind: MailKind; toDomain: string } {
  return { kind: m.kind, toDomain: m.to.slice(m.to.lastIndexOf('@') + 1) };
}

type EmailConfig = Config['email'];

export function createMailer(email: EmailConfig, logger: Logger): Mailer {
  const smtp = email.smtp;
  if (!smtp) {
    return {
      configured: false,
      async send(m) {
        logger.info({ event: 'mail_skipped', ...describe(m) }, 'no mail sent: email.smtp is not set (hand the link over another way)');
        return false;
      },
      close() {},
    };
  }
  let transport: Promise<Transporter> | undefined;
  const open = (): Promise<Transporter> =>
    (transport ??= import('nodemailer').then(({ default: nodemailer }) =>
      nodemailer.createTransport({
        host: smtp.host,
        port: smtp.port,
        secure: smtp.tls === 'implicit',
        requireTLS: smtp.tls === 'starttls',
        ignoreTLS: smtp.tls === 'none',
        ...(smtp.username !== undefined && smtp.password !== undefined ? { auth: { user: smtp.username, pass: smtp.password } } : {}),
        connectionTimeout: 10_000,
        greetingTimeout: 10_000,
        socketTimeout: 20_000,
        // Never nodemailer's own logger: it would print the message, link included.
        logger: false,
        debug: false,
      }),
    ));
  return {
    configured: true,
    async send(m) {
      const { subject, text: body } = render(m);
      try {
        await (await open()).sendMail({ from: email.from, to: m.to, subject, text: body });
        logger.info({ event: 'mail_sent', ...describe(m) }, 'mail sent');
        return true;
      } catch (err) {
        const e = err as { code?: string; responseCode?: number };
        logger.warn(
          { event: 'mail_failed', ...describe(m), code: e.code ?? null, responseCode: e.responseCode ?? null },
          'could not send mail',
        );
        return false;
      }
    },
    close() {
      void transport?.then(
        (t) => t.close(),
        () => undefined,
      );
    },
  };
}

// TOTP (RFC 6238) with otplib: 30-second steps, six digits, SHA-1 (what every authenticator app
// speaks), a 20-byte secret (RFC 4226 §4 R6 asks for at least 16). A code is accepted one step
// either side of now (RFC 6238 §5.2 allows for clock drift) and only for a step newer than the
// last one accepted (§5.2: "the verifier MUST NOT accept the second attempt of the same OTP"):
// the store's conditional update makes that hold across replicas.
// otplib and qrcode are loaded with the first enrolment or code (qrcode alone is about 3 MiB
// resident): a gate whose users have no TOTP never loads them.
const otplib = () => import('otplib');

export const TOTP_PERIOD_SECONDS = 30;

export async function newTotpSecret(): Promise<string> {
  return (await otplib()).generateSecret({ length: 20 });
}

/** The otpauth:// URI authenticator apps read from the QR code (Key Uri Format). */
export async function totpUri(secret: string, issuer: string, account: string): Promise<string> {
  return (await otplib()).generateURI({ issuer, label: account, secret });
}

/** The QR code as an SVG document, drawn here: no image service ever sees the secret. */
export async function totpQrSvg(uri: string): Promise<string> {
  const { default: QRCode } = await import('qrcode');
  return QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
}

/** Six digits, spaces and dashes ignored; anything else is no code. */
export function normalizeCode(raw: string): string | null {
  const code = raw.replace(/[\s-]/g, '');
  return /^\d{6}$/.test(code) ? code : null;
}

/** The time step the code belongs to (±1 step around `nowMs`, newer than `afterStep`), or null. */
export async function matchTotp(secret: string, code: string, nowMs: number, afterStep: number | null): Promise<number | null> {
  const { verify } = await otplib();
  try {
    const r = await verify({
      secret,
      token: code,
      epoch: Math.floor(nowMs / 1000),
      epochTolerance: TOTP_PERIOD_SECONDS,
      ...(afterStep !== null ? { afterTimeStep: afterStep } : {}),
    });
    return r.valid ? (r as { timeStep: number }).timeStep : null;
  } catch {
    return null;
  }
}

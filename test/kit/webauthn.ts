// Chromium for WebAuthn: a browser that treats the plain-http test portal as a secure context
// (WebAuthn needs one), and virtual authenticators over the DevTools protocol (WebAuthn domain):
// ctap2, a transport, resident keys, and user verification or not.
import type { Browser, CDPSession, Page } from 'playwright-core';
import { launchChromium } from './chromium.ts';

/** Chromium (chromium.ts) with the portal's plain-http origin a secure context. */
export function launchForWebAuthn(portalOrigin: string): Promise<Browser> {
  return launchChromium({ secureOrigins: [portalOrigin] });
}

export interface VirtualAuthenticator {
  cdp: CDPSession;
  id: string;
  /** The credentials it holds. */
  credentials(): Promise<Array<{ credentialId: string; isResidentCredential: boolean; userHandle?: string }>>;
  /** Whether it answers by itself (a touch) when asked. */
  presence(on: boolean): Promise<void>;
}

/**
 * A virtual authenticator in the page's browser context. `internal`: a platform passkey;
 * `usb`: a security key. `uv`: it verifies its user (a PIN or a fingerprint); without, it
 * only proves presence (a security key without a PIN). Resident keys always supported.
 */
export async function virtualAuthenticator(page: Page, transport: 'internal' | 'usb', uv: boolean): Promise<VirtualAuthenticator> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId: id } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      ctap2Version: 'ctap2_1',
      transport,
      hasResidentKey: true,
      hasUserVerification: uv,
      isUserVerified: uv,
      automaticPresenceSimulation: true,
    },
  });
  return {
    cdp,
    id,
    credentials: async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId: id })).credentials,
    presence: async (on) => {
      await cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: id, enabled: on });
    },
  };
}

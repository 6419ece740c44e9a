// The one Chromium launcher: playwright-core driving the system's Chromium, every test host
// name mapped to loopback, plain-http test hosts allowed.
import type { Browser } from 'playwright-core';

/** Loopback for every test host name, so the browser can use real-looking names. */
export const HOST_RULES = 'MAP *.example.test 127.0.0.1, MAP *.other.test 127.0.0.1, MAP *.example.net 127.0.0.1';

/**
 * `secureOrigins`: plain-http origins Chromium treats as secure contexts (WebAuthn needs one;
 * the test portals are http on test domains).
 */
export async function launchChromium(o: { secureOrigins?: readonly string[] } = {}): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--host-resolver-rules=${HOST_RULES}`,
      // Plain-http test hosts: no upgrade attempt, no interstitial.
      '--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable,HttpsFirstModeV2ForTypicallySecureUsers',
      ...(o.secureOrigins?.length ? [`--unsafely-treat-insecure-origin-as-secure=${o.secureOrigins.join(',')}`] : []),
    ],
  });
}

// Whether a URL's host is this machine: what makes http: acceptable for publicUrl. Used by the
// lints and by `serve` (which loads no lint code: see index.ts).
export function isLocalHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(hostname) || hostname === '[::1]';
}

// Reading the server's HTML as a browser would: entities, inputs, the form's action, the alert.

const entities: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

export function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(code) ? String.fromCodePoint(code) : m;
    }
    return entities[e.toLowerCase()] ?? m;
  });
}

/** Attributes of every <input> tag: name/value/type, quoted with " or ' or unquoted, any order. */
export function parseInputs(html: string): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = [];
  for (const tag of html.matchAll(/<input\b([^>]*)>/gi)) {
    const attrs: Record<string, string> = {};
    for (const a of (tag[1] ?? '').matchAll(/([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
      attrs[a[1]!.toLowerCase()] = decodeEntities(a[2] ?? a[3] ?? a[4] ?? '');
    }
    out.push(attrs);
  }
  return out;
}

/** name → value of the hidden inputs of a page. */
export function hiddenInputs(html: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const i of parseInputs(html)) if (i.type?.toLowerCase() === 'hidden' && i.name !== undefined) out[i.name] = i.value ?? '';
  return out;
}

/** The `action` of the first form, resolved against the page URL (the page URL itself when absent). */
export function formAction(html: string, pageUrl: string): string {
  const m = /<form\b[^>]*\baction\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/i.exec(html);
  const action = m === null ? '' : decodeEntities(m[1] ?? m[2] ?? m[3] ?? '');
  return new URL(action === '' ? pageUrl : action, pageUrl).toString();
}

/** The text of the element marked role="alert" (the sign-in form's error), or undefined. */
export function alertText(html: string): string | undefined {
  const m = /<(\w+)\b[^>]*\brole\s*=\s*["']alert["'][^>]*>([\s\S]*?)<\/\1>/i.exec(html);
  return m === null ? undefined : decodeEntities(m[2]!.replace(/<[^>]*>/g, '')).trim();
}

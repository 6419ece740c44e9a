// `serve --workers`: one /metrics for every worker. Each worker renders its own exposition
// (Prometheus text format 0.0.4); the worker that was scraped joins them: every sample gets a
// `worker` label (a slot number, stable across restarts), and each family is written once, its
// HELP and TYPE first, then the samples of every worker in turn. Families only some workers have
// (a lazily loaded feature) are written with the samples that exist.

interface Family {
  help: string | undefined;
  type: string | undefined;
  samples: string[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

/** The family a sample belongs to: its name, less a histogram's or summary's suffix when that family is declared. */
function familyOf(name: string, families: Map<string, Family>): string {
  if (families.has(name)) return name;
  for (const suffix of ['_bucket', '_sum', '_count', '_total', '_created']) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      if (families.has(base)) return base;
    }
  }
  return name;
}

/** `name{a="b"} 1` -> `name{worker="2",a="b"} 1`; `name 1` -> `name{worker="2"} 1`. */
function withLabel(line: string, name: string, label: string): string {
  const rest = line.slice(name.length);
  if (rest.startsWith('{')) return rest[1] === '}' ? `${name}{${label}}${rest.slice(2)}` : `${name}{${label},${rest.slice(1)}`;
  return `${name}{${label}}${rest}`;
}

/**
 * Joins the expositions of several workers into one: `parts` in slot order, each labelled
 * `worker="<worker>"`. `own` is text added as it is (the primary's metrics, already unique).
 */
export function mergeExpositions(parts: readonly { worker: number; text: string }[], own = ''): string {
  const families = new Map<string, Family>();
  const family = (name: string): Family => {
    let f = families.get(name);
    if (!f) {
      f = { help: undefined, type: undefined, samples: [] };
      families.set(name, f);
    }
    return f;
  };
  for (const { worker, text } of parts) {
    const label = `worker="${worker}"`;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      if (line.startsWith('#')) {
        const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$/.exec(line);
        if (!m) continue;
        const f = family(m[2] as string);
        if (m[1] === 'HELP') f.help ??= line;
        else f.type ??= line;
        continue;
      }
      const name = NAME.exec(line)?.[0];
      if (name === undefined) continue;
      family(familyOf(name, families)).samples.push(withLabel(line, name, label));
    }
  }
  const out: string[] = [];
  for (const f of families.values()) {
    if (f.help) out.push(f.help);
    if (f.type) out.push(f.type);
    out.push(...f.samples);
  }
  return `${out.join('\n')}\n${own}`;
}

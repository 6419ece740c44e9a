// Reading the docs in tests: the YAML blocks of a Markdown page.

/** The ```yaml blocks of a Markdown file, with the line each starts on. */
export function yamlBlocks(markdown: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```ya?ml\s*$/.test(lines[i] ?? '')) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end] ?? '')) end++;
    out.push({ line: start + 1, text: lines.slice(start, end).join('\n') });
    i = end;
  }
  return out;
}

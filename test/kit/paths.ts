// Where the repository and its shipped files are, for suites that run them as shipped.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const docsProxies = path.join(repoRoot, 'docs', 'proxies');
export const gatehouseBin = path.join(repoRoot, 'bin', 'gatehouse.js');

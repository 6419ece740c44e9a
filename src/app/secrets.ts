// The root secret when the config names none: generated once into the data directory (mode
// 0600) and read from there on every start, so a restart keeps sessions valid. The file holds
// one secret per line, newest first; `gatehouse keys rotate` prepends a new one and keeps the
// old ones so values sealed under them still open.
import { mkdir, readFile, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { GatehouseError } from '../core/index.ts';
import { generateSecret } from '../crypto/index.ts';

export const SECRET_FILE = 'secret';

export async function readGeneratedSecrets(dataDir: string): Promise<string[] | undefined> {
  try {
    const text = await readFile(join(dataDir, SECRET_FILE), 'utf8');
    const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
    return lines.length ? lines : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new GatehouseError('secret_invalid', `cannot read ${join(dataDir, SECRET_FILE)} (${(err as NodeJS.ErrnoException).code}): check the permissions of dataDir`);
  }
}

async function writeSecrets(dataDir: string, secrets: string[]): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const tmp = join(dataDir, `.${SECRET_FILE}.tmp`);
  await writeFile(tmp, secrets.join('\n') + '\n', { mode: 0o600 });
  await rename(tmp, join(dataDir, SECRET_FILE));
}

/** The configured secrets, or the generated ones (made on first use). */
export async function resolveSecrets(configured: string[] | undefined, dataDir: string): Promise<{ secrets: string[]; generated: boolean }> {
  if (configured && configured.length) return { secrets: configured, generated: false };
  const existing = await readGeneratedSecrets(dataDir);
  if (existing) return { secrets: existing, generated: true };
  const fresh = [generateSecret()];
  await writeSecrets(dataDir, fresh);
  return { secrets: fresh, generated: true };
}

/** Prepend a new generated secret, keeping at most `keep` old ones. */
export async function rotateGeneratedSecret(dataDir: string, keep = 2): Promise<number> {
  const existing = (await readGeneratedSecrets(dataDir)) ?? [];
  const next = [generateSecret(), ...existing.slice(0, keep)];
  await writeSecrets(dataDir, next);
  return next.length;
}

// The root secret when the config names none: generated once into the data directory (mode
// 0600) and read from there on every start, so a restart keeps sessions valid. The file holds
// one secret per line, newest first; `gatehouse keys rotate` prepends a new one and keeps the
// old ones so values sealed under them still open.
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GatehouseError } from '../core/index.ts';
import { generateSecret } from '../crypto/index.ts';

export const SECRET_FILE = 'secret';

/**
 * A secret file that others can read (copied in with a umask of 022, or made by hand) is made
 * 0600; the old mode is returned so the caller logs the change once.
 */
async function tightenSecretFile(file: string): Promise<string | undefined> {
  const mode = (await stat(file)).mode & 0o777;
  if ((mode & 0o077) === 0) return undefined;
  try {
    await chmod(file, 0o600);
  } catch (err) {
    throw new GatehouseError(
      'secret_invalid',
      `${file} has mode ${mode.toString(8).padStart(4, '0')} and cannot be made 0600 (${(err as NodeJS.ErrnoException).code}): it must be readable by this user only`,
    );
  }
  return mode.toString(8).padStart(4, '0');
}

export async function readGeneratedSecrets(
  dataDir: string,
  onTightened?: (file: string, from: string) => void,
): Promise<string[] | undefined> {
  try {
    const file = join(dataDir, SECRET_FILE);
    const text = await readFile(file, 'utf8');
    const from = await tightenSecretFile(file);
    if (from !== undefined) onTightened?.(file, from);
    const lines = text
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    return lines.length ? lines : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new GatehouseError(
      'secret_invalid',
      `cannot read ${join(dataDir, SECRET_FILE)} (${(err as NodeJS.ErrnoException).code}): check the permissions of dataDir`,
    );
  }
}

async function writeSecrets(dataDir: string, secrets: string[]): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const tmp = join(dataDir, `.${SECRET_FILE}.tmp`);
  await writeFile(tmp, secrets.join('\n') + '\n', { mode: 0o600 });
  await rename(tmp, join(dataDir, SECRET_FILE));
}

/** The configured secrets, or the generated ones (made on first use). */
export async function resolveSecrets(
  configured: string[] | undefined,
  dataDir: string,
  onTightened?: (file: string, from: string) => void,
): Promise<{ secrets: string[]; generated: boolean }> {
  if (configured && configured.length) return { secrets: configured, generated: false };
  const existing = await readGeneratedSecrets(dataDir, onTightened);
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

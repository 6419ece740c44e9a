// Temporary directories: every file a test writes lives in one of these, removed by the test.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh directory under the system temp dir, named gatehouse-<prefix>-XXXXXX. */
export async function tempDir(prefix = 'test'): Promise<string> {
  return mkdtemp(join(tmpdir(), `gatehouse-${prefix}-`));
}

/** Removes a directory made by tempDir (missing is fine). */
export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

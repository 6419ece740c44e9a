// Password hashing with argon2id (RFC 9106), Node's built-in implementation. Stored in the PHC
// string format so parameters can be raised later without breaking old hashes.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { GatehouseError } from '../core/index.ts';

export interface Argon2Params {
  memory: number;
  passes: number;
  parallelism: number;
}

/** OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane. */
export const DEFAULT_PARAMS: Argon2Params = { memory: 19456, passes: 2, parallelism: 1 };

const TAG_LENGTH = 32;

/**
 * Hashing runs on one dedicated worker thread, one hash at a time. argon2 on libuv's thread
 * pool would leave every pool thread's malloc arena holding its 19 MiB block after the hash
 * (measured: 4 concurrent sign-ins grew RSS by 180 MiB for good); one thread reuses one
 * arena, and the event loop never waits on a hash.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { argon2Sync } = require('node:crypto');
parentPort.on('message', (m) => {
  try {
    const tag = argon2Sync('argon2id', { message: m.password, nonce: Buffer.from(m.salt), parallelism: m.p, tagLength: m.len, memory: m.m, passes: m.t });
    parentPort.postMessage({ id: m.id, tag });
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String(err && err.message || err) });
  }
});
`;

let worker: Worker | undefined;
let nextId = 0;
const pending = new Map<number, { resolve: (b: Buffer) => void; reject: (e: Error) => void }>();

/**
 * The thread ends after this long without a hash: its isolate (about 15 MiB resident) goes back
 * to the system, and the next sign-in starts a new thread (tens of milliseconds). The argon2id
 * block (19 MiB) goes back after each hash only with MALLOC_MMAP_THRESHOLD_ set, as the binary's
 * shebang, `npm start` and the image do: without it glibc keeps it in the thread's heap, which
 * outlives the thread. Measured with the benchmark's memory stage (docs/benchmarks.md).
 */
let idleMs = 10_000;
let idleTimer: NodeJS.Timeout | undefined;
export function setPasswordThreadIdle(ms: number): void {
  idleMs = Math.max(0, ms);
}
/** Whether the hashing thread is running (for tests of its idle end). */
export function passwordThreadRunning(): boolean {
  return worker !== undefined;
}

function hasher(): Worker {
  if (idleTimer !== undefined) {
    clearTimeout(idleTimer);
    idleTimer = undefined;
  }
  if (worker) return worker;
  const w = new Worker(WORKER_SOURCE, { eval: true });
  w.on('message', (m: { id: number; tag?: Uint8Array; error?: string }) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.tag) p.resolve(Buffer.from(m.tag));
    else p.reject(new Error(`argon2id failed: ${m.error ?? 'unknown error'}`));
    if (pending.size === 0) {
      w.unref();
      idleTimer = setTimeout(() => {
        idleTimer = undefined;
        if (worker !== w || pending.size > 0) return;
        // Ended on purpose: its exit must not fail the checks of the thread that replaces it.
        worker = undefined;
        w.removeAllListeners('exit');
        w.removeAllListeners('error');
        w.on('error', () => undefined);
        void w.terminate();
      }, idleMs);
      idleTimer.unref();
    }
  });
  const fail = (err: Error) => {
    if (worker !== w) return;
    worker = undefined;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  w.on('error', fail);
  w.on('exit', (code) => fail(new Error(`the password hashing thread exited (${code})`)));
  w.unref();
  worker = w;
  return w;
}

/**
 * Hashes waiting for the thread at most (limits.pendingPasswordChecks). Every sign-in attempt
 * queues one (a dummy one for an unknown user), and the throttle counts a failure only once its
 * hash is done, so without a bound a burst of sign-ins would queue without limit.
 */
let maxPending = 64;
export function setPendingPasswordChecks(n: number): void {
  maxPending = Math.max(1, n);
}
export function pendingPasswordChecks(): number {
  return pending.size;
}

function derive(password: string, salt: Buffer, p: Argon2Params): Promise<Buffer> {
  if (pending.size >= maxPending) {
    return Promise.reject(
      new GatehouseError('too_many_requests', `${pending.size} password checks are already waiting (limits.pendingPasswordChecks)`),
    );
  }
  return new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    const w = hasher();
    w.ref();
    w.postMessage({ id, password, salt, m: p.memory, t: p.passes, p: p.parallelism, len: TAG_LENGTH });
  });
}

const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');

export async function hashPassword(password: string, params: Argon2Params = DEFAULT_PARAMS): Promise<string> {
  const salt = randomBytes(16);
  const tag = await derive(password, salt, params);
  return `$argon2id$v=19$m=${params.memory},t=${params.passes},p=${params.parallelism}$${b64(salt)}$${b64(tag)}`;
}

const PHC = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

/** A hash of a random password, verified against when the user is unknown so both paths cost the same. */
let dummyHash: Promise<string> | undefined;
export function dummyPasswordHash(): Promise<string> {
  dummyHash ??= hashPassword(randomBytes(16).toString('base64'));
  return dummyHash;
}

/** Verify in constant time with respect to the password; false for a malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = PHC.exec(stored);
  if (!m) return false;
  const params = { memory: Number(m[1]), passes: Number(m[2]), parallelism: Number(m[3]) };
  const salt = Buffer.from(m[4] ?? '', 'base64');
  const expected = Buffer.from(m[5] ?? '', 'base64');
  if (expected.length !== TAG_LENGTH || salt.length < 8) return false;
  const actual = await derive(password, salt, params);
  return timingSafeEqual(actual, expected);
}

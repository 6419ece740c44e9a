// Reload without restart: watch the config file or directory (and the files its ${file:}
// references name, so rotated secrets are seen), debounce bursts of events, load and validate
// the new config, and hand over one complete object. A config that fails validation is logged
// with every problem and dropped: the running config keeps serving.
//
// The class installs no signal handlers: the composition root wires SIGHUP to reload('sighup').
import { createHash } from 'node:crypto';
import { statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { isGatehouseError, type Logger } from '../core/index.ts';
import type { LoadedConfig } from './loaded.ts';
import { loadConfigOffThread } from './off-thread.ts';

export type ReloadTrigger = 'sighup' | 'file' | 'manual';

export interface ConfigWatcherOptions {
  /** The config file or directory, as given to loadConfig. */
  path: string;
  env?: NodeJS.ProcessEnv;
  logger: Logger;
  /** Receives each new valid config; swapping it in atomically is the caller's job. */
  onReload: (next: LoadedConfig) => void | Promise<void>;
  onError?: (err: unknown) => void;
  /** Called after every reload attempt that loaded something (metrics: reloads and failures). */
  onResult?: (ok: boolean, trigger: ReloadTrigger) => void;
  /** Quiet time after the last file event before reloading (default 250 ms). */
  debounceMs?: number;
  /** The config now serving: file events that change nothing are then ignored, and its ${file:} references are watched. */
  current?: LoadedConfig;
}

/** A fingerprint of a config; kept instead of the config so no secret stays around for comparison. */
function fingerprint(loaded: LoadedConfig): string {
  return createHash('sha256').update(JSON.stringify(loaded.config)).digest('base64url');
}

const YAML_NAME = /\.ya?ml$/;

export class ConfigWatcher {
  /** Successful reloads (onReload called and returned). */
  reloads = 0;
  /** Failed reloads (invalid config, or onReload threw). */
  failures = 0;

  readonly #opts: ConfigWatcherOptions;
  readonly #debounceMs: number;
  #watchers = new Map<string, FSWatcher>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #chain: Promise<unknown> = Promise.resolve();
  #last: string | undefined;
  #referenced: string[];
  #isDir = false;
  #started = false;

  constructor(opts: ConfigWatcherOptions) {
    this.#opts = opts;
    this.#debounceMs = opts.debounceMs ?? 250;
    this.#last = opts.current ? fingerprint(opts.current) : undefined;
    this.#referenced = opts.current?.referencedFiles ?? [];
  }

  /** Start watching. Synchronous; throws if the config path is gone. */
  start(): void {
    if (this.#started) return;
    this.#isDir = statSync(this.#opts.path).isDirectory();
    this.#started = true;
    this.#sync();
  }

  stop(): void {
    this.#started = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
  }

  /**
   * A change was seen: reload once no further change arrives for debounceMs. The file watchers
   * call this; it is public so tests (and other triggers) share the same debounce.
   */
  notifyChange(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.reload('file').catch((err: unknown) => {
        this.#opts.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'configuration reload failed');
      });
    }, this.#debounceMs);
  }

  /**
   * Load and validate the config now; true when it is valid (and, for a 'file' trigger, also
   * when it did not change). Reloads run one at a time, in the order asked.
   */
  reload(trigger: ReloadTrigger): Promise<boolean> {
    const next = () => this.#reload(trigger);
    const run = this.#chain.then(next, next);
    this.#chain = run;
    return run;
  }

  async #reload(trigger: ReloadTrigger): Promise<boolean> {
    const { logger } = this.#opts;
    let next: LoadedConfig;
    try {
      // Off the serving thread: a large config never stalls requests (off-thread.ts).
      next = await loadConfigOffThread({ path: this.#opts.path, ...(this.#opts.env ? { env: this.#opts.env } : {}) });
    } catch (err) {
      this.#fail(err, trigger);
      return false;
    }
    const print = fingerprint(next);
    // Editors and ConfigMap swaps fire events for files whose content did not change.
    if (trigger === 'file' && print === this.#last) {
      logger.debug({ trigger }, 'configuration unchanged');
      return true;
    }
    try {
      await this.#opts.onReload(next);
    } catch (err) {
      this.#fail(err, trigger);
      return false;
    }
    this.#last = print;
    this.reloads++;
    // Warnings (next.lints) are the caller's to log, as at start-up.
    logger.info({ trigger, sources: next.sources }, 'configuration reloaded');
    this.#referenced = next.referencedFiles ?? [];
    if (this.#started) this.#sync();
    this.#opts.onResult?.(true, trigger);
    return true;
  }

  #fail(err: unknown, trigger: ReloadTrigger): void {
    this.failures++;
    if (isGatehouseError(err)) {
      // Problems name paths and references, never values.
      this.#opts.logger.error(
        { trigger, problems: err.problems },
        `configuration reload failed, the previous configuration stays in force: ${err.detail}`,
      );
    } else {
      this.#opts.logger.error(
        { trigger, err: err instanceof Error ? err.message : String(err) },
        'configuration reload failed, the previous configuration stays in force',
      );
    }
    this.#opts.onError?.(err);
    this.#opts.onResult?.(false, trigger);
  }

  /** Which directory entries matter, per watched directory. */
  #targets(): Map<string, (name: string) => boolean> {
    const out = new Map<string, (name: string) => boolean>();
    const add = (dir: string, want: (name: string) => boolean) => {
      const prev = out.get(dir);
      out.set(dir, prev ? (n) => prev(n) || want(n) : want);
    };
    // Kubernetes swaps a mount by renaming a new `..data` symlink over the old one: the
    // visible names never change, so `..`-prefixed names count as changes too.
    const swap = (n: string) => n.startsWith('..');
    if (this.#isDir) add(this.#opts.path, (n) => swap(n) || (!n.startsWith('.') && YAML_NAME.test(n)));
    else {
      // Watch the directory, not the file: editors and `mv` replace the file (a new inode),
      // which a watch on the old inode would never report.
      const name = basename(this.#opts.path);
      add(dirname(this.#opts.path), (n) => n === name || swap(n));
    }
    for (const f of this.#referenced) {
      const name = basename(f);
      add(dirname(f), (n) => n === name || swap(n));
    }
    return out;
  }

  #sync(): void {
    const targets = this.#targets();
    for (const [dir, w] of this.#watchers) {
      if (!targets.has(dir)) {
        w.close();
        this.#watchers.delete(dir);
      }
    }
    for (const [dir, wanted] of targets) {
      this.#watchers.get(dir)?.close();
      try {
        // persistent: false — the watcher alone never keeps the process alive.
        const w = watch(dir, { persistent: false }, (_event, name) => {
          if (name === null || wanted(name)) this.notifyChange();
        });
        w.on('error', (err) => this.#opts.logger.warn({ dir, err: err.message }, 'configuration watch failed'));
        this.#watchers.set(dir, w);
      } catch (err) {
        this.#watchers.delete(dir);
        this.#opts.logger.warn({ dir, err: err instanceof Error ? err.message : String(err) }, 'cannot watch for configuration changes');
      }
    }
  }
}

// A one-way announcement between features that must not know each other: the publisher does not
// know who listens. Listeners subscribe once, while the composition root builds the features in
// dependency order; nothing is replaced afterwards. A listener that fails is its own concern (it
// catches and logs); one never stops the others or the publisher.
export class Topic<T> {
  readonly #listeners: ((value: T) => void)[] = [];

  subscribe(listener: (value: T) => void): void {
    this.#listeners.push(listener);
  }

  publish(value: T): void {
    for (const l of this.#listeners) {
      try {
        l(value);
      } catch {
        /* a listener's failure is its own (see above) */
      }
    }
  }
}

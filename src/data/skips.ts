/** Bookkeeping for input that was skipped or shortened, so that nothing is dropped silently. */

/** One reason for skipping, with how often it happened and a few places where it did. */
export interface SkipEntry {
  /** Short, stable description, e.g. `not UTF-8` or `empty document`. */
  reason: string;
  /** How many items (files, documents, lines, tokens: the reason says which) were affected. */
  count: number;
  /** Up to five places (file names, file:line) where it happened. */
  examples: string[];
}

/** Collects skip reasons with counts; serialises to the `skipped` list of `meta.json`. */
export class SkipLog {
  #map = new Map<string, SkipEntry>();

  /** Records `count` skipped items for `reason`, optionally naming where. */
  add(reason: string, where?: string, count = 1): void {
    if (count <= 0) return;
    let e = this.#map.get(reason);
    if (!e) {
      e = { reason, count: 0, examples: [] };
      this.#map.set(reason, e);
    }
    e.count += count;
    if (where !== undefined && e.examples.length < 5) e.examples.push(where);
  }

  /** Count recorded for one reason (0 when none). */
  count(reason: string): number {
    return this.#map.get(reason)?.count ?? 0;
  }

  /** All entries in the order the reasons first appeared. */
  entries(): SkipEntry[] {
    return [...this.#map.values()].map((e) => ({ ...e, examples: [...e.examples] }));
  }

  /** Whether nothing was recorded. */
  get empty(): boolean {
    return this.#map.size === 0;
  }

  /** Human-readable lines, one per reason. */
  format(): string[] {
    return this.entries().map((e) => `${e.reason}: ${e.count}${e.examples.length ? ` (e.g. ${e.examples.join(', ')})` : ''}`);
  }
}

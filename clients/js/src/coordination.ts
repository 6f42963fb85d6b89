/**
 * What tabs of one browser share: a lock (so only one refresh runs at a time across all tabs),
 * a broadcast channel (so sign-in, refresh and sign-out are seen everywhere), and two small
 * localStorage entries (when the last refresh finished, and whether a session may exist).
 *
 * Every piece degrades on its own: no Web Locks -> the lock is per tab; no BroadcastChannel ->
 * no messages; no localStorage (Node, privacy modes) -> the values live in memory.
 */

import type { SessionData } from "./types.js";

export type TabMessage =
  | { type: "signed-in"; data: SessionData }
  | { type: "refreshed"; data: SessionData | null }
  | { type: "signed-out" };

interface LockManagerLike {
  request<T>(name: string, options: { mode: "exclusive" }, callback: () => Promise<T>): Promise<T>;
}

interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

function webLocks(): LockManagerLike | null {
  const nav = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator;
  return nav?.locks && typeof nav.locks.request === "function" ? nav.locks : null;
}

function webStorage(): StorageLike | null {
  try {
    // Reading localStorage itself throws in some sandboxed frames.
    const storage = (globalThis as { localStorage?: StorageLike }).localStorage;
    if (!storage) return null;
    const probe = "authgate:probe";
    storage.setItem(probe, "1");
    storage.removeItem(probe);
    return storage;
  } catch {
    return null;
  }
}

export class TabCoordinator {
  private readonly locks: LockManagerLike | null;
  private readonly storage: StorageLike | null;
  private readonly channel: BroadcastChannel | null;
  private readonly listeners = new Set<(message: TabMessage) => void>();
  private readonly memory = new Map<string, string>();
  private localQueue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly key: string,
    crossTab: boolean,
  ) {
    this.locks = crossTab ? webLocks() : null;
    this.storage = crossTab ? webStorage() : null;
    this.channel = crossTab && typeof BroadcastChannel === "function" ? new BroadcastChannel(`authgate:${key}`) : null;
    this.channel?.addEventListener("message", (event: MessageEvent) => {
      const message = event.data as TabMessage | undefined;
      if (message && typeof message === "object" && typeof message.type === "string") {
        for (const listener of this.listeners) listener(message);
      }
    });
  }

  /** True when this coordinator can see other tabs' state (a persistent hint, shared storage). */
  get sharesStorage(): boolean {
    return this.storage !== null;
  }

  /** Run `fn` while holding the refresh lock: exclusive across tabs where Web Locks exist. */
  withLock<T>(fn: () => Promise<T>): Promise<T> {
    if (this.locks) return this.locks.request(`authgate:refresh:${this.key}`, { mode: "exclusive" }, fn);
    const run = this.localQueue.then(fn, fn);
    this.localQueue = run.catch(() => undefined);
    return run;
  }

  post(message: TabMessage): void {
    try {
      this.channel?.postMessage(message);
    } catch {
      // A closed channel (page unloading) has nobody left to tell.
    }
  }

  subscribe(listener: (message: TabMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** When (Date.now()) the last successful refresh in any tab finished; 0 if never. */
  lastRefreshAt(): number {
    return Number(this.read("refreshed-at") ?? 0) || 0;
  }

  markRefreshed(at: number): void {
    this.write("refreshed-at", String(at));
  }

  /**
   * Whether a session may exist: set on sign-in, cleared on sign-out. It holds no secret, only
   * saves signed-out visitors a pointless refresh. `null` when nothing was ever recorded.
   */
  sessionHint(): boolean | null {
    const value = this.read("session-hint");
    return value === null ? null : value === "1";
  }

  setSessionHint(present: boolean): void {
    this.write("session-hint", present ? "1" : "0");
  }

  close(): void {
    this.channel?.close();
    this.listeners.clear();
  }

  private read(name: string): string | null {
    const key = `authgate:${this.key}:${name}`;
    try {
      if (this.storage) return this.storage.getItem(key);
    } catch {
      // fall through to memory
    }
    return this.memory.get(key) ?? null;
  }

  private write(name: string, value: string): void {
    const key = `authgate:${this.key}:${name}`;
    this.memory.set(key, value);
    try {
      this.storage?.setItem(key, value);
    } catch {
      // quota or privacy mode: memory still holds it for this tab
    }
  }
}

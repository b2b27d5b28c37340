// One WebSocket for the whole page (docs/realtime.md). The server authenticates it from the
// session cookie on connect; channels are reference-counted so views can come and go.

import { activeAccount } from "./api";

export type Message = { type: string; [key: string]: unknown };
type Listener = (message: Message) => void;

/** "stale": open, but nothing came back for a while, not even the answer to a probe. */
export type Health = { state: "connecting" | "live" | "reconnecting" | "stale"; silentS: number };

const PRIVATE = new Set(["orders", "portfolio"]);
// Quiet channels (no prices subscribed) can be silent until the 15 s heartbeat: after this much
// silence the page asks the server for an answer before calling the data stale.
const PROBE_AFTER_MS = 4000;
const PROBE_GRACE_MS = 2500;
// A connection that stays stale this long is dead without TCP having noticed: start a new one.
const GIVE_UP_MS = 20000;

class Stream {
  private socket: WebSocket | null = null;
  private readonly counts = new Map<string, number>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private retry = 0;
  private authenticated = false;
  private lastMessage = 0;
  private probeSent = 0;
  private health: Health = { state: "connecting", silentS: 0 };
  private readonly watchers = new Set<(health: Health) => void>();
  private timer = 0;
  private pendingConnect = 0;
  /** The server said the session's token expired (main.ts checks and signs out). */
  onExpired: () => void = () => undefined;

  /** (Re)connects: after sign-in or sign-out the handshake carries the new cookie. */
  start(): void {
    const old = this.socket;
    this.socket = null;
    old?.close();
    window.clearInterval(this.timer);
    window.clearTimeout(this.pendingConnect);
    this.timer = window.setInterval(() => this.check(), 1000);
    this.connect();
  }

  private setHealth(state: Health["state"], silentS = 0): void {
    if (state === this.health.state && silentS === this.health.silentS) return;
    this.health = { state, silentS };
    for (const watcher of this.watchers) watcher(this.health);
  }

  /** Once a second: is the open socket still answering? */
  private check(): void {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    const now = Date.now();
    const silent = now - this.lastMessage;
    if (silent < PROBE_AFTER_MS) return;
    if (!this.probeSent) {
      this.probe(socket);
    } else if (now - this.probeSent > PROBE_GRACE_MS) {
      this.setHealth("stale", Math.floor(silent / 1000));
      if (silent > GIVE_UP_MS) {
        this.socket = null;
        socket.close();
        this.reconnectLater();
      }
    }
  }

  private probe(socket: WebSocket): void {
    this.probeSent = Date.now();
    // The protocol has no ping; dropping a channel that is not held is a no-op the server
    // answers with the channel list, which is all a probe needs.
    socket.send(JSON.stringify({ action: "unsubscribe", channels: ["prices:PROBE"] }));
  }

  private reconnectLater(): void {
    this.setHealth("reconnecting");
    // Back off up to 5 s; a fresh connection gets fresh snapshots.
    this.pendingConnect = window.setTimeout(() => this.connect(), Math.min(5000, 250 * 2 ** this.retry++));
  }

  watch(watcher: (health: Health) => void): () => void {
    this.watchers.add(watcher);
    watcher(this.health);
    return () => this.watchers.delete(watcher);
  }

  private connect(): void {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    // The private channels follow the page's active account (views/accounts.ts).
    const account = activeAccount.id ? `&account_id=${encodeURIComponent(activeAccount.id)}` : "";
    const socket = new WebSocket(`${scheme}://${location.host}/ws?batch=true${account}`);
    this.socket = socket;
    this.authenticated = false;
    socket.onopen = () => {
      // "Live" and a reset back-off wait for the first message: a server that accepts and
      // drops at once is no live connection.
      this.lastMessage = Date.now();
      // An answer right away, even with nothing to subscribe to (the sign-in screen).
      this.probe(socket);
      this.send("subscribe", [...this.counts.keys()].filter((c) => !PRIVATE.has(c)));
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      this.lastMessage = Date.now();
      this.probeSent = 0;
      this.retry = 0;
      this.setHealth("live");
      const data: unknown = JSON.parse(String(event.data));
      for (const message of Array.isArray(data) ? data : [data]) this.dispatch(message as Message);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return; // replaced on purpose
      this.socket = null;
      this.reconnectLater();
    };
  }

  private dispatch(message: Message): void {
    if (message.type === "authenticated") {
      this.authenticated = true;
      this.send("subscribe", [...this.counts.keys()].filter((c) => PRIVATE.has(c)));
    } else if (message.type === "error" && message.error === "token_expired") {
      this.authenticated = false;
      this.onExpired();
    }
    for (const listener of this.listeners.get(message.type) ?? []) listener(message);
  }

  private send(action: "subscribe" | "unsubscribe", channels: string[]): void {
    if (channels.length && this.socket?.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ action, channels }));
    }
  }

  subscribe(channels: string[]): () => void {
    const fresh = channels.filter((c) => {
      const n = this.counts.get(c) ?? 0;
      this.counts.set(c, n + 1);
      return n === 0;
    });
    // Private channels wait for the server's "authenticated" (sent after the handshake).
    this.send("subscribe", fresh.filter((c) => !PRIVATE.has(c) || this.authenticated));
    return () => {
      const gone = channels.filter((c) => {
        const n = (this.counts.get(c) ?? 1) - 1;
        if (n <= 0) this.counts.delete(c);
        else this.counts.set(c, n);
        return n <= 0;
      });
      this.send("unsubscribe", gone);
    };
  }

  on(type: string, listener: Listener): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }
}

export const stream = new Stream();

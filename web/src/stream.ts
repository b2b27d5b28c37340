// One WebSocket for the whole page (docs/realtime.md). The server authenticates it from the
// session cookie on connect; channels are reference-counted so views can come and go.

export type Message = { type: string; [key: string]: unknown };
type Listener = (message: Message) => void;

const PRIVATE = new Set(["orders", "portfolio"]);

class Stream {
  private socket: WebSocket | null = null;
  private readonly counts = new Map<string, number>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private retry = 0;
  private authenticated = false;

  /** (Re)connects: after sign-in or sign-out the handshake carries the new cookie. */
  start(): void {
    const old = this.socket;
    this.socket = null;
    old?.close();
    this.connect();
  }

  private connect(): void {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws?batch=true`);
    this.socket = socket;
    this.authenticated = false;
    socket.onopen = () => {
      this.retry = 0;
      this.send("subscribe", [...this.counts.keys()].filter((c) => !PRIVATE.has(c)));
    };
    socket.onmessage = (event) => {
      const data: unknown = JSON.parse(String(event.data));
      for (const message of Array.isArray(data) ? data : [data]) this.dispatch(message as Message);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return; // replaced on purpose
      this.socket = null;
      // Back off up to 5 s; a fresh connection gets fresh snapshots.
      window.setTimeout(() => this.connect(), Math.min(5000, 250 * 2 ** this.retry++));
    };
  }

  private dispatch(message: Message): void {
    if (message.type === "authenticated") {
      this.authenticated = true;
      this.send("subscribe", [...this.counts.keys()].filter((c) => PRIVATE.has(c)));
    } else if (message.type === "error" && message.error === "token_expired") {
      this.authenticated = false;
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

// Order events wherever the user is: a toast for every fill, partial fill, cancel, reject and
// expiry of the user's orders (the private `orders` channel), and a count on the Orders link
// until the Orders screen is seen.
import { get, type Order } from "./api";
import { notify } from "./dom";
import { money } from "./money";
import { stream, type Message } from "./stream";

interface Seen {
  status: string;
  filled: number;
}

const known = new Map<string, Seen>();
let unseen = 0;
let onOrdersScreen = false;

function describe(o: Order): string {
  const kind = o.type.replace("_", "-");
  return `${o.side === "buy" ? "Buy" : "Sell"} ${o.qty} ${o.symbol} ${kind}`;
}

/** The event this update is, by comparing with what was seen of the order before. */
function event(o: Order, before: Seen): { text: string; tone: "fill" | "error" | "ok" } | null {
  if (o.filled_qty > before.filled) {
    const last = o.fills[o.fills.length - 1];
    const at = last ? ` at ${money(last.price)}` : "";
    if (o.status === "filled") {
      return { text: `Filled: ${describe(o)}, avg ${money(o.filled_avg_price)}`, tone: "fill" };
    }
    const closed = o.status === "canceled" || o.status === "expired" ? ` (rest ${o.status})` : "";
    return {
      text: `Partially filled: ${describe(o)}, ${o.filled_qty} of ${o.qty} done${at}${closed}`,
      tone: "fill",
    };
  }
  if (o.status === before.status) return null;
  const reason = o.reject_reason ? `: ${o.reject_reason}` : "";
  if (o.status === "canceled") return { text: `Canceled: ${describe(o)}${reason}`, tone: "ok" };
  if (o.status === "rejected") return { text: `Rejected: ${describe(o)}${reason}`, tone: "error" };
  if (o.status === "expired") return { text: `Expired: ${describe(o)}`, tone: "ok" };
  return null;
}

function paintBadge(): void {
  const link = document.querySelector<HTMLAnchorElement>('#nav a[href="#/orders"]');
  if (!link) return;
  link.querySelector(".badge")?.remove();
  if (!unseen) return;
  // Read as part of the link's name: "Orders, 2 new".
  const badge = document.createElement("span");
  badge.className = "badge";
  badge.dataset.testid = "orders-badge";
  const hidden = (text: string) => Object.assign(document.createElement("span"), { className: "sr", textContent: text });
  badge.append(hidden(", "), String(unseen), hidden(" new"));
  link.append(badge);
}

function onOrder(m: Message): void {
  announce(m.order as Order, Boolean(m.snapshot));
}

function announce(o: Order, snapshot: boolean): void {
  const before = known.get(o.id) ?? { status: "new", filled: 0 };
  known.set(o.id, { status: o.status, filled: o.filled_qty });
  // A snapshot (on (re)subscribing) is the state now, not news.
  if (snapshot) return;
  const news = event(o, before);
  if (!news) return;
  notify(news.text, news.tone);
  if (!onOrdersScreen) {
    unseen++;
    paintBadge();
  }
}

let stop: (() => void) | null = null;

/** Follows the signed-in user's orders (or stops, signed out). */
export function watchOrders(signedIn: boolean): void {
  stop?.();
  stop = null;
  known.clear();
  unseen = 0;
  paintBadge();
  if (!signedIn) return;
  const off = stream.on("order", onOrder);
  const unsubscribe = stream.subscribe(["orders"]);
  // What happened while the connection was down comes as no event (the new snapshot holds only
  // open orders): after a reconnect, re-read the orders already seen and announce their changes.
  let wasDown = false;
  const unwatch = stream.watch((health) => {
    if (health.state === "reconnecting") wasDown = true;
    if (health.state !== "live" || !wasDown) return;
    wasDown = false;
    get<Order[]>("/orders?status=all&limit=200")
      .then((orders) => {
        for (const o of orders) if (known.has(o.id)) announce(o, false);
      })
      .catch(() => undefined); // the banner says why
  });
  stop = () => (off(), unsubscribe(), unwatch());
}

/** The Orders screen shows every change itself: the count is for the other screens. */
export function ordersScreen(open: boolean): void {
  onOrdersScreen = open;
  if (open && unseen) {
    unseen = 0;
    paintBadge();
  }
}

// Order events wherever the user is: a toast for every fill, partial fill, cancel, reject and
// expiry of the user's orders (the private `orders` channel), and a count on the Orders link
// until the Orders screen is seen.
import type { Order } from "./api";
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
  let badge = link.querySelector<HTMLElement>(".badge");
  if (!unseen) {
    badge?.remove();
    link.removeAttribute("aria-label");
    return;
  }
  if (!badge) {
    badge = document.createElement("span");
    badge.className = "badge";
    badge.dataset.testid = "orders-badge";
    badge.setAttribute("aria-hidden", "true");
    link.append(badge);
  }
  badge.textContent = String(unseen);
  link.setAttribute("aria-label", `Orders, ${unseen} new order ${unseen === 1 ? "event" : "events"}`);
}

function onOrder(m: Message): void {
  const o = m.order as Order;
  const before = known.get(o.id) ?? { status: "new", filled: 0 };
  known.set(o.id, { status: o.status, filled: o.filled_qty });
  // A snapshot (on (re)subscribing) is the state now, not news.
  if (m.snapshot) return;
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
  stop = () => (off(), unsubscribe());
}

/** The Orders screen shows every change itself: the count is for the other screens. */
export function ordersScreen(open: boolean): void {
  onOrdersScreen = open;
  if (open && unseen) {
    unseen = 0;
    paintBadge();
  }
}

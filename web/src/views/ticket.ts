// The order ticket: checks what it can before sending, shows the order once more for review,
// warns about what a trader would not expect (a stop that triggers at once), then sends.
import { api, ApiError, get, type Order, type Portfolio } from "../api";
import { h, replace } from "../dom";
import { fromCents, money, toCents } from "../money";
import { stream, type Message } from "../stream";

interface Market {
  last: string | null;
  bid: string | null;
  ask: string | null;
  portfolio: Portfolio | null;
  open: Map<string, Order>;
}

type Side = "buy" | "sell";
const TYPES: [string, string][] = [
  ["market", "Market"],
  ["limit", "Limit"],
  ["stop", "Stop"],
  ["stop_limit", "Stop-limit"],
];
const TIFS: [string, string][] = [
  ["day", "Day"],
  ["gtc", "Good till canceled"],
  ["ioc", "Immediate or cancel"],
  ["fok", "Fill or kill"],
];
// What the server assumes when none is given: every type starts at "day" after an order, so a
// "fill or kill" picked once does not quietly apply to the next order too.
const DEFAULT_TIF: Record<string, string> = { market: "day", limit: "day", stop: "day", stop_limit: "day" };
const label = (options: [string, string][], value: string) => options.find(([v]) => v === value)?.[1] ?? value;

interface Checked {
  order?: Record<string, unknown>;
  /** Why it cannot be sent as it stands. */
  problem?: string;
  /** A problem that no click can fix (the button is disabled until the order changes). */
  blocking?: boolean;
  cost?: bigint;
  warnings: string[];
}

export function ticketPanel(symbol: string): { el: HTMLElement; dispose: () => void } {
  const market: Market = { last: null, bid: null, ask: null, portfolio: null, open: new Map() };
  const field = (text: string, control: HTMLElement, extra = "") => h("label", { class: extra }, text, control);
  const select = (name: string, options: [string, string][]) =>
    h("select", { name }, ...options.map(([v, t]) => h("option", { value: v }, t))) as HTMLSelectElement;
  const sideBuy = h("input", { type: "radio", name: "side", value: "buy", checked: true }) as HTMLInputElement;
  const sideSell = h("input", { type: "radio", name: "side", value: "sell" }) as HTMLInputElement;
  const type = select("type", TYPES);
  const tif = select("time_in_force", TIFS);
  const qty = h("input", { name: "qty", inputmode: "numeric", autocomplete: "off", value: "1", required: true }) as HTMLInputElement;
  const limit = h("input", { name: "limit_price", inputmode: "decimal", autocomplete: "off" }) as HTMLInputElement;
  const stop = h("input", { name: "stop_price", inputmode: "decimal", autocomplete: "off" }) as HTMLInputElement;
  const limitField = field("Limit price", limit);
  const stopField = field("Stop price", stop);
  const quote = h("p", { class: "quote", "data-testid": "quote" });
  const estimate = h("dl", { class: "estimate", "data-testid": "estimate" });
  const warning = h("p", { class: "warning", "data-testid": "ticket-warning" });
  const error = h("p", { class: "error", role: "alert", "data-testid": "ticket-error" });
  const result = h("p", { class: "result", role: "status", "data-testid": "ticket-result" });
  const submit = h("button", { type: "submit", class: "primary" }, "Review") as HTMLButtonElement;
  const review = h("div", { class: "review", "data-testid": "review", hidden: true, tabindex: "-1" });
  const form = h(
    "form",
    { class: "ticket", novalidate: true, "aria-label": `Order ticket ${symbol}` },
    h(
      "fieldset",
      { class: "seg sides" },
      h("legend", { class: "sr" }, "Side"),
      h("label", { class: "buy" }, sideBuy, "Buy"),
      h("label", { class: "sell" }, sideSell, "Sell"),
    ),
    field("Type", type),
    field("Quantity", qty),
    limitField,
    stopField,
    field("Time in force", tif),
    quote,
    estimate,
    warning,
    error,
    submit,
    review,
    result,
  ) as HTMLFormElement;
  // On a phone the ticket sits below the chart: a bar at the bottom brings it up.
  const jump = (s: Side) => {
    (s === "buy" ? sideBuy : sideSell).checked = true;
    closeReview();
    form.scrollIntoView({ block: "start" });
    qty.focus({ preventScroll: true });
  };
  const bar = h(
    "div",
    { class: "action-bar", "data-testid": "action-bar" },
    h("button", { type: "button", class: "primary buy", onclick: () => jump("buy") }, `Buy ${symbol}`),
    h("button", { type: "button", class: "primary sell", onclick: () => jump("sell") }, `Sell ${symbol}`),
  );
  const el = h("section", { class: "card", "aria-label": "Order ticket", "data-testid": "ticket" }, h("h2", {}, "Trade"), form, bar);
  // Out of the way while the ticket's own button is on screen.
  const seen = new IntersectionObserver(([entry]) => bar.classList.toggle("away", entry.isIntersecting));
  seen.observe(submit);

  const side = (): Side => (sideBuy.checked ? "buy" : "sell");
  const held = () => BigInt(market.portfolio?.positions.find((p) => p.symbol === symbol)?.qty ?? 0);
  /** Held minus what open sell orders already reserve: the shares a new sell can use. */
  const available = () => {
    let reserved = 0n;
    for (const o of market.open.values()) {
      if (o.symbol === symbol && o.side === "sell") reserved += BigInt(o.qty - o.filled_qty);
    }
    const free = held() - reserved;
    return free < 0n ? 0n : free;
  };
  const marketPrice = () => toCents((side() === "buy" ? market.ask : market.bid) ?? market.last ?? "");

  /** The order as it would be sent, or the first reason it would be refused. */
  const check = (): Checked => {
    const t = type.value;
    const warnings: string[] = [];
    if (!/^\s*\d+\s*$/.test(qty.value) || Number(qty.value) < 1) {
      return { problem: "Quantity must be a whole number of shares, at least 1", warnings };
    }
    const shares = BigInt(qty.value.trim());
    const order: Record<string, unknown> = { symbol, side: side(), type: t, qty: Number(shares), time_in_force: tif.value };
    const price = (input: HTMLInputElement, what: string): bigint | string => {
      const cents = toCents(input.value);
      if (!input.value.trim()) return `${what} is required for a ${t.replace("_", "-")} order`;
      if (cents === null || cents <= 0n) return `${what} must be a positive price with at most 2 decimals`;
      return cents;
    };
    const now = marketPrice();
    let reference = now;
    if (t === "limit" || t === "stop_limit") {
      const p = price(limit, "Limit price");
      if (typeof p === "string") return { problem: p, warnings };
      order.limit_price = fromCents(p).replace(/,/g, "");
      reference = p;
      if (t === "limit" && now !== null && (side() === "buy" ? p >= now : p <= now)) {
        warnings.push(`A ${side()} limit at ${fromCents(p)} is ${side() === "buy" ? "at or above the ask" : "at or below the bid"} (${fromCents(now)}): it trades at once.`);
      }
    }
    if (t === "stop" || t === "stop_limit") {
      const p = price(stop, "Stop price");
      if (typeof p === "string") return { problem: p, warnings };
      order.stop_price = fromCents(p).replace(/,/g, "");
      if (t === "stop") reference = p;
      if (now !== null && (side() === "buy" ? p <= now : p >= now)) {
        warnings.push(`A ${side()} stop at ${fromCents(p)} is ${side() === "buy" ? "at or below" : "at or above"} the market (${fromCents(now)}): it triggers at once.`);
      }
    }
    const cost = reference === null ? undefined : reference * shares;
    const pf = market.portfolio;
    if (pf && cost !== undefined && side() === "buy") {
      const power = toCents(pf.buying_power) ?? 0n;
      if (cost > power) {
        return { problem: `Estimated cost ${fromCents(cost)} exceeds your buying power ${fromCents(power)}`, blocking: true, cost, warnings };
      }
    }
    if (pf && side() === "sell") {
      const free = available();
      if (shares > free) {
        const reservedNote = free < held() ? ` (${held()} held, ${held() - free} reserved by open sell orders)` : "";
        const why = free === 0n && held() === 0n ? `; short selling is not possible` : reservedNote;
        return { problem: `You can sell at most ${free} ${symbol}${why}`, blocking: true, cost, warnings };
      }
    }
    return { order, cost, warnings };
  };

  const paint = () => {
    const t = type.value;
    limitField.hidden = !(t === "limit" || t === "stop_limit");
    stopField.hidden = !(t === "stop" || t === "stop_limit");
    if (!submit.dataset.sending) submit.textContent = `Review ${side() === "buy" ? "buy" : "sell"}`;
    submit.setAttribute("aria-label", `Review: ${side() === "buy" ? "Buy" : "Sell"} ${symbol}`);
    submit.className = `primary ${side()}`;
    replace(
      quote,
      h("span", {}, "Last ", h("b", { "data-testid": "last-price" }, money(market.last))),
      h("span", {}, " Bid ", h("b", {}, money(market.bid))),
      h("span", {}, " Ask ", h("b", {}, money(market.ask))),
    );
    const checked = check();
    const { cost } = checked;
    const power = market.portfolio ? toCents(market.portfolio.buying_power) : null;
    const row = (k: string, v: string, testid: string, cls = "") =>
      h("div", {}, h("dt", {}, k), h("dd", { "data-testid": testid, class: cls }, v));
    const left = power === null || cost === undefined ? null : power - cost;
    replace(
      estimate,
      row(side() === "buy" ? "Estimated cost" : "Estimated proceeds", cost === undefined ? "—" : fromCents(cost), "est-cost"),
      row("Buying power", power === null ? "—" : fromCents(power), "ticket-buying-power", power !== null && power < 0n ? "down" : ""),
      side() === "buy"
        ? row("Buying power left", left === null ? "—" : fromCents(left), "power-left", left !== null && left < 0n ? "down" : "")
        : row("Shares available", market.portfolio ? `${available()} of ${held()} held` : "—", "shares-available"),
    );
    // What stops the order shows as it is typed; the button waits until the order changes.
    // (The review repeats the warnings next to Confirm: not twice on screen.)
    warning.textContent = checked.blocking ? (checked.problem ?? "") : review.hidden ? checked.warnings.join(" ") : "";
    warning.classList.toggle("down", Boolean(checked.blocking));
    submit.disabled = Boolean(checked.blocking) || Boolean(submit.dataset.sending);
  };

  const closeReview = () => {
    review.hidden = true;
    submit.hidden = false;
    replace(review);
    paint();
  };

  const send = async (order: Record<string, unknown>) => {
    const confirm = review.querySelector<HTMLButtonElement>("button.confirm");
    submit.dataset.sending = "true";
    if (confirm) {
      confirm.disabled = true;
      confirm.textContent = "Sending…";
    }
    result.textContent = "";
    try {
      const placed = await api<Order>("POST", "/orders?wait=true", order);
      const filled = placed.filled_qty ? `, ${placed.filled_qty} filled at ${money(placed.filled_avg_price)}` : "";
      result.textContent = `${placed.side === "buy" ? "Buy" : "Sell"} ${placed.qty} ${symbol}: ${placed.status.replace("_", " ")}${filled}`;
      if (placed.status === "rejected" || placed.status === "canceled") {
        error.textContent = placed.reject_reason ?? `Order ${placed.status}`;
      }
      if (placed.status === "new" || placed.status === "partially_filled") market.open.set(placed.id, placed);
      tif.value = DEFAULT_TIF[type.value];
      closeReview();
      void get<Portfolio>("/portfolio").then((p) => ((market.portfolio = p), paint()));
    } catch (e) {
      error.textContent = e instanceof ApiError ? `Not placed: ${e.message}` : "Could not reach the server";
      closeReview();
    } finally {
      delete submit.dataset.sending;
      paint();
    }
  };

  const openReview = (checked: Checked) => {
    const order = checked.order as Record<string, unknown>;
    const t = type.value;
    const prices = [
      order.stop_price && `stop ${money(String(order.stop_price))}`,
      order.limit_price && `limit ${money(String(order.limit_price))}`,
    ].filter(Boolean);
    const power = market.portfolio ? toCents(market.portfolio.buying_power) : null;
    const row = (k: string, v: string) => h("div", {}, h("dt", {}, k), h("dd", {}, v));
    const confirm = h(
      "button",
      { type: "button", class: `primary confirm ${side()}`, onclick: () => void send(order) },
      `Confirm ${side()} ${order.qty} ${symbol}`,
    );
    replace(
      review,
      h("h3", {}, "Review your order"),
      h(
        "dl",
        { class: "estimate" },
        row("Order", `${side() === "buy" ? "Buy" : "Sell"} ${order.qty} ${symbol}`),
        row("Type", `${label(TYPES, t)}${prices.length ? ` (${prices.join(", ")})` : ""}`),
        row("Time in force", label(TIFS, tif.value)),
        row(side() === "buy" ? "Estimated cost" : "Estimated proceeds", checked.cost === undefined ? "—" : fromCents(checked.cost)),
        side() === "buy" && power !== null && checked.cost !== undefined && row("Buying power left", fromCents(power - checked.cost)),
      ),
      ...checked.warnings.map((w) => h("p", { class: "warning", "data-testid": "review-warning" }, w)),
      h("div", { class: "buttons" }, confirm, h("button", { type: "button", onclick: () => (closeReview(), qty.focus()) }, "Edit")),
    );
    review.hidden = false;
    submit.hidden = true;
    paint();
    confirm.focus();
  };

  form.addEventListener("input", () => {
    error.textContent = "";
    if (!review.hidden) closeReview();
    paint();
  });
  type.addEventListener("change", () => {
    tif.value = DEFAULT_TIF[type.value];
  });
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !review.hidden) {
      closeReview();
      qty.focus();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    error.textContent = "";
    result.textContent = "";
    const checked = check();
    if (!checked.order) {
      error.textContent = checked.problem ?? "";
      return;
    }
    openReview(checked);
  });

  const onOrder = (m: Message) => {
    const o = m.order as Order;
    if (o.status === "new" || o.status === "partially_filled") market.open.set(o.id, o);
    else market.open.delete(o.id);
    paint();
  };
  const offs = [
    stream.on("price", (m: Message) => {
      if (m.symbol === symbol) (market.last = String(m.price)), paint();
    }),
    stream.on("quote", (m: Message) => {
      if (m.symbol !== symbol) return;
      market.bid = (m.bid as string | null) ?? null;
      market.ask = (m.ask as string | null) ?? null;
      paint();
    }),
    stream.on("portfolio", (m: Message) => {
      market.portfolio = m.portfolio as Portfolio;
      paint();
    }),
    stream.on("order", onOrder),
    stream.subscribe([`prices:${symbol}`, `quotes:${symbol}`, "portfolio", "orders"]),
    () => seen.disconnect(),
  ];
  let closed = false;
  void get<Portfolio>("/portfolio").then((p) => {
    market.portfolio = p;
    paint();
  });
  void get<Order[]>(`/orders?status=open&symbol=${symbol}&limit=500`).then((orders) => {
    if (closed) return;
    for (const o of orders) if (!market.open.has(o.id)) market.open.set(o.id, o);
    paint();
  });
  paint();
  return { el, dispose: () => ((closed = true), offs.forEach((off) => off())) };
}

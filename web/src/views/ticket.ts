import { api, ApiError, get, type Order, type Portfolio } from "../api";
import { h, notify, replace } from "../dom";
import { fromCents, money, toCents } from "../money";
import { stream, type Message } from "../stream";

interface Market {
  last: string | null;
  bid: string | null;
  ask: string | null;
  portfolio: Portfolio | null;
}

export function ticketPanel(symbol: string): { el: HTMLElement; dispose: () => void } {
  const market: Market = { last: null, bid: null, ask: null, portfolio: null };
  const field = (text: string, control: HTMLElement, extra = "") => h("label", { class: extra }, text, control);
  const select = (name: string, options: [string, string][]) =>
    h("select", { name }, ...options.map(([v, t]) => h("option", { value: v }, t))) as HTMLSelectElement;
  const sideBuy = h("input", { type: "radio", name: "side", value: "buy", checked: true }) as HTMLInputElement;
  const sideSell = h("input", { type: "radio", name: "side", value: "sell" }) as HTMLInputElement;
  const type = select("type", [
    ["market", "Market"],
    ["limit", "Limit"],
    ["stop", "Stop"],
    ["stop_limit", "Stop-limit"],
  ]);
  const tif = select("time_in_force", [
    ["day", "Day"],
    ["gtc", "Good till canceled"],
    ["ioc", "Immediate or cancel"],
    ["fok", "Fill or kill"],
  ]);
  const qty = h("input", { name: "qty", inputmode: "numeric", autocomplete: "off", value: "1", required: true }) as HTMLInputElement;
  const limit = h("input", { name: "limit_price", inputmode: "decimal", autocomplete: "off" }) as HTMLInputElement;
  const stop = h("input", { name: "stop_price", inputmode: "decimal", autocomplete: "off" }) as HTMLInputElement;
  const limitField = field("Limit price", limit);
  const stopField = field("Stop price", stop);
  const quote = h("p", { class: "quote", "data-testid": "quote" });
  const estimate = h("dl", { class: "estimate", "data-testid": "estimate" });
  const error = h("p", { class: "error", role: "alert", "data-testid": "ticket-error" });
  const submit = h("button", { type: "submit", class: "primary" }, "Review") as HTMLButtonElement;
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
    error,
    submit,
  ) as HTMLFormElement;
  const el = h("section", { class: "card", "aria-label": "Order ticket", "data-testid": "ticket" }, h("h2", {}, "Trade"), form);

  const side = () => (sideBuy.checked ? "buy" : "sell");
  /** The order as it would be sent, or the first reason it would be refused. */
  const check = (): { order?: Record<string, unknown>; problem?: string; cost?: bigint } => {
    const t = type.value;
    if (!/^\s*\d+\s*$/.test(qty.value) || Number(qty.value) < 1) return { problem: "Quantity must be a whole number of shares, at least 1" };
    const shares = BigInt(qty.value.trim());
    const order: Record<string, unknown> = { symbol, side: side(), type: t, qty: Number(shares), time_in_force: tif.value };
    const price = (input: HTMLInputElement, what: string): bigint | string => {
      const cents = toCents(input.value);
      if (!input.value.trim()) return `${what} is required for a ${t.replace("_", "-")} order`;
      if (cents === null || cents <= 0n) return `${what} must be a positive price with at most 2 decimals`;
      return cents;
    };
    let reference = toCents((side() === "buy" ? market.ask : market.bid) ?? market.last ?? "") ?? null;
    if (t === "limit" || t === "stop_limit") {
      const p = price(limit, "Limit price");
      if (typeof p === "string") return { problem: p };
      order.limit_price = fromCents(p).replace(/,/g, "");
      reference = p;
    }
    if (t === "stop" || t === "stop_limit") {
      const p = price(stop, "Stop price");
      if (typeof p === "string") return { problem: p };
      order.stop_price = fromCents(p).replace(/,/g, "");
      if (t === "stop") reference = p;
    }
    const cost = reference === null ? undefined : reference * shares;
    const pf = market.portfolio;
    if (pf && cost !== undefined && side() === "buy") {
      const power = toCents(pf.buying_power) ?? 0n;
      if (cost > power) return { problem: `Estimated cost ${fromCents(cost)} exceeds your buying power ${fromCents(power)}`, cost };
    }
    if (pf && side() === "sell") {
      const held = BigInt(pf.positions.find((p) => p.symbol === symbol)?.qty ?? 0);
      if (shares > held) return { problem: `You hold ${held} ${symbol}; short selling is not possible`, cost };
    }
    return { order, cost };
  };

  const paint = () => {
    const t = type.value;
    limitField.hidden = !(t === "limit" || t === "stop_limit");
    stopField.hidden = !(t === "stop" || t === "stop_limit");
    submit.textContent = `${side() === "buy" ? "Buy" : "Sell"} ${symbol}`;
    submit.className = `primary ${side()}`;
    replace(
      quote,
      h("span", {}, "Last ", h("b", { "data-testid": "last-price" }, money(market.last))),
      h("span", {}, " Bid ", h("b", {}, money(market.bid))),
      h("span", {}, " Ask ", h("b", {}, money(market.ask))),
    );
    const { cost } = check();
    const power = market.portfolio ? toCents(market.portfolio.buying_power) : null;
    const held = market.portfolio?.positions.find((p) => p.symbol === symbol)?.qty ?? 0;
    const row = (k: string, v: string, testid: string) => h("div", {}, h("dt", {}, k), h("dd", { "data-testid": testid }, v));
    replace(
      estimate,
      row(side() === "buy" ? "Estimated cost" : "Estimated proceeds", cost === undefined ? "—" : fromCents(cost), "est-cost"),
      row("Buying power", power === null ? "—" : fromCents(power), "ticket-buying-power"),
      side() === "buy"
        ? row("Buying power left", power === null || cost === undefined ? "—" : fromCents(power - cost), "power-left")
        : row("Shares held", String(held), "shares-held"),
    );
  };
  form.addEventListener("input", () => {
    error.textContent = "";
    paint();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { order, problem } = check();
    if (!order) {
      error.textContent = problem ?? "";
      return;
    }
    submit.disabled = true;
    try {
      const placed = await api<Order>("POST", "/orders?wait=true", order);
      const filled = placed.filled_qty ? `, ${placed.filled_qty} filled at ${money(placed.filled_avg_price)}` : "";
      notify(`${placed.side} ${placed.qty} ${symbol}: ${placed.status.replace("_", " ")}${filled}`);
      if (placed.status === "rejected" || placed.status === "canceled") {
        error.textContent = placed.reject_reason ?? `Order ${placed.status}`;
      }
      void get<Portfolio>("/portfolio").then((p) => ((market.portfolio = p), paint()));
    } catch (e) {
      error.textContent = e instanceof ApiError ? `Refused: ${e.message}` : "Could not reach the server";
    } finally {
      submit.disabled = false;
    }
  });

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
    stream.subscribe([`prices:${symbol}`, `quotes:${symbol}`, "portfolio"]),
  ];
  void get<Portfolio>("/portfolio").then((p) => {
    market.portfolio = p;
    paint();
  });
  paint();
  return { el, dispose: () => offs.forEach((off) => off()) };
}

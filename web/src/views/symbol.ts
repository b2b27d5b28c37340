import "../styles/market.css";
import {
  CandlestickSeries,
  createChart,
  createSeriesMarkers,
  HistogramSeries,
  LineStyle,
  type IChartApi,
  type IPriceLine,
  type ISeriesApi,
  type MouseEventParams,
  type SeriesMarker,
  type Time,
  type UTCTimestamp,
} from "lightweight-charts";
import { get, type Book, type Candle, type Level, type Order, type Print } from "../api";
import { arrow, chartColours, direction, pctHundredths, signedCents } from "../change";
import { h, replace, time } from "../dom";
import type { Cleanup } from "../main";
import { fromCents, money, toCents } from "../money";
import { stream } from "../stream";
import type { MyFill, Tick } from "../types";
import { depthChart } from "./depth";
import { ticketPanel } from "./ticket";

const INTERVALS = { "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400 } as const;
type Interval = keyof typeof INTERVALS;
const UP = "#26a69a";
const DOWN = "#ef5350";
const TITLE = "stocksim";

type Bar = Pick<Candle, "start" | "open" | "high" | "low" | "close" | "volume">;
type Panel = { el: HTMLElement; dispose: () => void };

function toPoint(c: Bar) {
  const t = (Date.parse(c.start) / 1000) as UTCTimestamp;
  const up = Number(c.close) >= Number(c.open);
  return {
    candle: { time: t, open: Number(c.open), high: Number(c.high), low: Number(c.low), close: Number(c.close) },
    volume: { time: t, value: c.volume, color: up ? `${UP}80` : `${DOWN}80` },
  };
}

/** Price, change since the day's open and the day's range; also the tab's title. */
function headerPanel(symbol: string, first: Tick): Panel {
  const day = { open: null as bigint | null, high: null as bigint | null, low: null as bigint | null };
  let last = toCents(first.price) ?? 0n;
  const price = h("span", { class: "hdr-price num", "data-testid": "symbol-price" });
  const change = h("span", { class: "hdr-change num", "data-testid": "symbol-change" });
  const range = h("span", { class: "hdr-range num muted", "data-testid": "day-range" });
  const el = h(
    "div",
    { class: "symbol-head" },
    h("h1", {}, symbol),
    price,
    change,
    h("span", { class: "muted small" }, "Day range ", range),
    h("a", { href: "#/", class: "back" }, "← Markets"),
  );
  const paint = () => {
    price.textContent = fromCents(last);
    if (day.open === null) {
      change.textContent = "";
      document.title = `${symbol} ${fromCents(last)} · ${TITLE}`;
    } else {
      const diff = last - day.open;
      const pct = signedCents(pctHundredths(diff, day.open));
      change.textContent = `${signedCents(diff)} (${pct}%) today`;
      change.className = `hdr-change num ${direction(diff)}`;
      document.title = `${symbol} ${fromCents(last)} ${arrow(diff)}${pct.replace("+", "")}% · ${TITLE}`;
    }
    range.textContent = day.low === null || day.high === null ? "—" : `${fromCents(day.low)} – ${fromCents(day.high)}`;
  };
  let closed = false;
  // "Today" is the current market session (GET /clock): its daily bar ends at `next_close`. The
  // latest daily bar may be an earlier session's (no tick yet today): then there is no change
  // yet. A bar ending later (from the 1d candle channel) is the next session's.
  let sessionClose: number | null = null;
  const takeBar = (bar: Pick<Candle, "end" | "open" | "high" | "low">) => {
    const end = Date.parse(bar.end);
    if (closed || sessionClose === null || end < sessionClose) return;
    sessionClose = end;
    day.open = toCents(bar.open);
    day.high = toCents(bar.high);
    day.low = toCents(bar.low);
    paint();
  };
  void get<{ next_close: string }>("/clock")
    .then(async (clock) => {
      sessionClose = Date.parse(clock.next_close);
      const bar = (await get<Candle[]>(`/candles/${symbol}?interval=1d&limit=1`)).at(-1);
      if (bar) takeBar(bar);
    })
    .catch(() => undefined); // the header still shows the live price without the day's bar
  const offBar = stream.on("candle", (m) => {
    if (m.symbol === symbol && m.interval === "1d") takeBar(m as unknown as Candle);
  });
  const off = stream.on("price", (m) => {
    if (m.symbol !== symbol) return;
    last = toCents(String(m.price)) ?? last;
    if (day.high !== null && last > day.high) day.high = last;
    if (day.low !== null && last < day.low) day.low = last;
    paint();
  });
  const unsubscribe = stream.subscribe([`prices:${symbol}`, `candles:${symbol}:1d`]);
  paint();
  return {
    el,
    dispose: () => {
      closed = true;
      off();
      offBar();
      unsubscribe();
      document.title = TITLE;
    },
  };
}

function chartPanel(symbol: string): Panel {
  const box = h("div", { class: "chart", "data-testid": "chart" });
  const readout = h("div", { class: "ohlc num", "data-testid": "ohlc", "aria-live": "off" });
  const buttons = (Object.keys(INTERVALS) as Interval[]).map((i) =>
    h("button", { type: "button", class: "small", "aria-pressed": i === "1m" ? "true" : "false", "data-interval": i }, i),
  );
  const el = h(
    "section",
    { class: "card chart-card", "aria-label": `${symbol} chart` },
    h("div", { class: "row-between" }, h("h2", {}, "Chart"), h("div", { class: "seg", role: "group", "aria-label": "Interval" }, ...buttons)),
    readout,
    box,
    h("p", { class: "muted small chart-legend" }, "Dashed lines: your open orders. Arrows: your fills."),
  );
  const colours = chartColours();
  const chart: IChartApi = createChart(box, {
    autoSize: true,
    layout: { background: { color: "transparent" }, textColor: colours.text },
    grid: { vertLines: { color: colours.grid }, horzLines: { color: colours.grid } },
    timeScale: { timeVisible: true, secondsVisible: false },
    rightPriceScale: { scaleMargins: { top: 0.1, bottom: 0.25 } },
  });
  const candles: ISeriesApi<"Candlestick"> = chart.addSeries(CandlestickSeries, {
    upColor: UP,
    downColor: DOWN,
    wickUpColor: UP,
    wickDownColor: DOWN,
    borderVisible: false,
  });
  const volume: ISeriesApi<"Histogram"> = chart.addSeries(HistogramSeries, {
    priceScaleId: "volume",
    priceFormat: { type: "volume" },
  });
  chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  const markers = createSeriesMarkers(candles, []);

  // The readout shows the bar under the crosshair, else the newest bar.
  const volumes = new Map<number, number>();
  let newest: Bar | null = null;
  const showBar = (o: string, hi: string, lo: string, c: string, v: number | undefined) => {
    const up = Number(c) >= Number(o);
    replace(
      readout,
      ...[
        ["O", o],
        ["H", hi],
        ["L", lo],
        ["C", c],
      ].map(([k, value]) => h("span", {}, h("span", { class: "muted" }, `${k} `), h("b", { class: up ? "up" : "down" }, value))),
      v === undefined ? null : h("span", {}, h("span", { class: "muted" }, "V "), h("b", {}, v.toLocaleString())),
    );
  };
  const showNewest = () => {
    if (newest) showBar(money(newest.open), money(newest.high), money(newest.low), money(newest.close), newest.volume);
    else replace(readout, h("span", { class: "muted" }, "No bars yet"));
  };
  const onCrosshair = (param: MouseEventParams<Time>) => {
    const bar = param.seriesData.get(candles) as { open: number; high: number; low: number; close: number } | undefined;
    if (!bar || param.time === undefined) return showNewest();
    const fmt = (n: number) => money(n.toFixed(2));
    showBar(fmt(bar.open), fmt(bar.high), fmt(bar.low), fmt(bar.close), volumes.get(Number(param.time)));
  };
  chart.subscribeCrosshairMove(onCrosshair);

  // Your open orders as price lines, your fills as markers on the bar they happened in.
  let lines: IPriceLine[] = [];
  let fills: MyFill[] = [];
  let interval: Interval = "1m";
  // Bar starts (market time, seconds) of the shown interval, oldest first.
  let starts: number[] = [];
  const paintMarkers = () => {
    // A fill (its market_time: bars are in market time) belongs to the last bar starting at or
    // before it; a 1d bar starts at the session's open, not at midnight.
    const barOf = (t: number) => starts.filter((s) => s <= t).at(-1);
    const list: SeriesMarker<Time>[] = fills
      .map((f) => ({ f, start: barOf(Date.parse(f.market_time) / 1000) }))
      .filter((m): m is { f: MyFill; start: number } => m.start !== undefined)
      .map(({ f, start }) => ({
        time: start as UTCTimestamp,
        position: f.side === "buy" ? ("belowBar" as const) : ("aboveBar" as const),
        color: f.side === "buy" ? UP : DOWN,
        shape: f.side === "buy" ? ("arrowUp" as const) : ("arrowDown" as const),
        text: `${f.side === "buy" ? "B" : "S"} ${f.qty} @ ${money(f.price)}`,
      }))
      .sort((a, b) => a.time - b.time);
    markers.setMarkers(list);
    el.dataset.fillMarkers = String(list.length); // those placed on a shown bar
    el.dataset.lastFillBar = String(list.at(-1)?.time ?? "");
  };
  let closed = false;
  const loadMine = async () => {
    const [open, mine] = await Promise.all([
      get<Order[]>(`/orders?status=open&symbol=${symbol}&limit=100`),
      get<MyFill[]>("/trades?limit=500"),
    ]);
    if (closed) return;
    for (const line of lines) candles.removePriceLine(line);
    lines = open.flatMap((o) =>
      [
        ["lmt", o.limit_price],
        ["stop", o.stop_price],
      ]
        .filter((p): p is [string, string] => p[1] !== null)
        .map(([kind, price]) =>
          candles.createPriceLine({
            price: Number(price),
            color: o.side === "buy" ? UP : DOWN,
            lineWidth: 1,
            lineStyle: LineStyle.Dashed,
            axisLabelVisible: true,
            title: `${o.side} ${o.qty - o.filled_qty} ${kind}`,
          }),
        ),
    );
    el.dataset.orderLines = String(lines.length);
    fills = mine.filter((f) => f.symbol === symbol);
    paintMarkers();
  };
  let pending = 0;
  const reloadMine = () => {
    // A burst of fills arrives together: one reload for all of them.
    window.clearTimeout(pending);
    pending = window.setTimeout(() => void loadMine().catch(() => undefined), 150);
  };

  let unsubscribe: () => void = () => undefined;
  let generation = 0;
  const show = async (next: Interval) => {
    interval = next;
    const mine = ++generation;
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.interval === next));
    unsubscribe();
    const bars = await get<Candle[]>(`/candles/${symbol}?interval=${next}&limit=300`);
    if (mine !== generation) return;
    const points = bars.map(toPoint);
    starts = points.map((p) => Number(p.volume.time));
    volumes.clear();
    for (const p of points) volumes.set(p.volume.time, p.volume.value);
    candles.setData(points.map((p) => p.candle));
    volume.setData(points.map((p) => p.volume));
    newest = bars.at(-1) ?? null;
    showNewest();
    paintMarkers();
    chart.timeScale().fitContent();
    unsubscribe = stream.subscribe([`candles:${symbol}:${next}`]);
  };
  for (const b of buttons) b.addEventListener("click", () => void show((b.dataset.interval as Interval) ?? "1m"));
  const offs = [
    stream.on("candle", (m) => {
      if (m.symbol !== symbol || m.interval !== interval) return;
      const bar = m as unknown as Bar;
      const p = toPoint(bar);
      try {
        candles.update(p.candle);
        volume.update(p.volume);
        if ((starts.at(-1) ?? -Infinity) < p.volume.time) starts.push(p.volume.time);
        volumes.set(p.volume.time, p.volume.value);
        newest = bar;
        if (!readout.dataset.hover) showNewest();
      } catch {
        // an update older than the last bar (a replayed snapshot): the history already has it
      }
    }),
    stream.on("order", (m) => {
      if ((m.order as Order | undefined)?.symbol === symbol) reloadMine();
    }),
    stream.on("fill", (m) => {
      if (m.symbol === symbol) reloadMine();
    }),
    stream.subscribe(["orders"]),
  ];
  box.addEventListener("mouseenter", () => (readout.dataset.hover = "1"));
  box.addEventListener("mouseleave", () => {
    delete readout.dataset.hover;
    showNewest();
  });
  void show("1m");
  void loadMine().catch(() => undefined);
  return {
    el,
    dispose: () => {
      closed = true;
      generation++;
      window.clearTimeout(pending);
      offs.forEach((off) => off());
      unsubscribe();
      chart.unsubscribeCrosshairMove(onCrosshair);
      chart.remove();
    },
  };
}

/** "0.36 (2.0 bps)": the gap between the best ask and bid, and that gap against the mid price. */
function spreadText(b: Book): string {
  const bid = b.bids[0] && toCents(b.bids[0].price);
  const ask = b.asks[0] && toCents(b.asks[0].price);
  if (!bid || !ask) return "Spread —";
  const gap = ask - bid;
  // bps of the mid = gap / ((ask + bid) / 2) x 10,000, kept to one decimal in integers
  const tenthsOfBps = (gap * 200000n) / (ask + bid);
  return `Spread ${fromCents(gap)} (${tenthsOfBps / 10n}.${tenthsOfBps % 10n} bps)`;
}

function bookPanel(symbol: string): Panel {
  const body = h("div", { class: "book-body" });
  const depth = depthChart();
  const el = h(
    "section",
    { class: "card", "aria-label": "Order book", "data-testid": "order-book" },
    h("h2", {}, "Order book"),
    body,
    h("h2", { class: "depth-title" }, "Depth"),
    depth.el,
  );
  const side = (levels: Level[], kind: "bid" | "ask", max: number) =>
    levels.slice(0, 8).map((l) => {
      // The house quotes unlimited size: no bar (it would dwarf every real order), a tag instead.
      const row = h(
        "div",
        { class: `level ${kind}${l.qty === null ? " house" : ""}` },
        h("span", { class: "num" }, money(l.price)),
        h("span", { class: "num" }, l.qty === null ? "∞" : l.qty.toLocaleString()),
        l.house ? h("span", { class: "tag house-tag", title: "The simulated market maker: unlimited size" }, "house") : h("span", { class: "muted small" }, `${l.orders} ord`),
      );
      row.style.setProperty("--depth", l.qty === null ? "0%" : `${Math.round((l.qty / max) * 100)}%`);
      return row;
    });
  const paint = (b: Book) => {
    const max = Math.max(1, ...[...b.bids.slice(0, 8), ...b.asks.slice(0, 8)].map((l) => l.qty ?? 0));
    replace(
      body,
      h("div", { class: "level head muted" }, h("span", {}, "Price"), h("span", { class: "num" }, "Size"), h("span", {}, "")),
      ...side(b.asks, "ask", max).reverse(),
      h("div", { class: "spread muted", "data-testid": "spread" }, spreadText(b)),
      ...side(b.bids, "bid", max),
    );
    depth.paint(b);
  };
  const off = stream.on("book", (m) => {
    if (m.symbol === symbol) paint(m as unknown as Book);
  });
  const unsubscribe = stream.subscribe([`book:${symbol}`]);
  return { el, dispose: () => (off(), unsubscribe()) };
}

function tapePanel(symbol: string): Panel {
  const list = h("ol", { class: "tape", "data-testid": "tape", "aria-label": "Trades, newest first" });
  const el = h(
    "section",
    { class: "card", "aria-label": "Trades" },
    h("h2", {}, "Trades"),
    h("div", { class: "tape-head muted", "aria-hidden": "true" }, h("span", { class: "num" }, "Price"), h("span", { class: "num" }, "Size"), h("span", { class: "num" }, "Time")),
    list,
  );
  const item = (p: Print) =>
    h(
      "li",
      { class: p.aggressor_side === "buy" ? "up" : "down" },
      h("span", { class: "num" }, money(p.price)),
      h("span", { class: "num" }, String(p.qty)),
      h("span", { class: "num muted" }, time(p.ts)),
    );
  let closed = false;
  void get<Print[]>(`/market-trades/${symbol}?limit=30`)
    .then((prints) => {
      if (!closed) list.append(...prints.map(item));
    })
    .catch(() => undefined); // live prints still arrive
  const off = stream.on("trade", (m) => {
    if (m.symbol !== symbol) return;
    list.prepend(item(m as unknown as Print));
    while (list.children.length > 50) list.lastElementChild?.remove();
  });
  const unsubscribe = stream.subscribe([`trades:${symbol}`]);
  return { el, dispose: () => ((closed = true), off(), unsubscribe()) };
}

/**
 * `#/symbol/AAPL?side=sell&qty=6` (the portfolio's Sell and Close buttons) prefills the ticket.
 * Only the parsing lives here; the ticket reads its own fields, so the fields are set and the
 * ticket hears an input event as if the user had typed.
 */
function prefillTicket(ticket: HTMLElement): void {
  const query = new URLSearchParams(location.hash.split("?")[1] ?? "");
  const side = query.get("side");
  const qty = query.get("qty");
  const form = ticket.querySelector("form");
  if (!form) return;
  if (side === "buy" || side === "sell") {
    const radio = form.querySelector<HTMLInputElement>(`input[name=side][value=${side}]`);
    if (radio) radio.checked = true;
  }
  const qtyInput = form.querySelector<HTMLInputElement>("input[name=qty]");
  if (qty && /^\d{1,9}$/.test(qty) && qtyInput) qtyInput.value = qty;
  if (side || qty) form.dispatchEvent(new Event("input", { bubbles: true }));
}

function unknownSymbol(root: HTMLElement, symbol: string): void {
  document.title = `Unknown symbol · ${TITLE}`;
  replace(
    root,
    h(
      "section",
      { class: "card unknown-symbol", "data-testid": "unknown-symbol" },
      h("h1", {}, "Unknown symbol"),
      h("p", {}, `Nothing called “${symbol}” trades on this exchange.`),
      // The price cache answers the same for a symbol whose first price is still on its way.
      h("p", { class: "muted small" }, "Exchange just started? Prices arrive within seconds: ", h("button", { type: "button", class: "link", onclick: () => window.dispatchEvent(new HashChangeEvent("hashchange")) }, "try again"), "."),
      h("a", { href: "#/" }, "See every symbol on Markets"),
    ),
  );
}

export function viewSymbol(root: HTMLElement, symbol: string): Cleanup {
  let panels: Panel[] = [];
  let closed = false;
  replace(root, h("h1", {}, symbol), h("p", { class: "muted", "aria-busy": "true" }, "Loading…"));
  const load = async () => {
    // Asked directly: a 404 here is an answer (no such symbol), not a failed load for a banner.
    const response = await fetch(`/prices/${symbol}`, { credentials: "same-origin" }).catch(() => null);
    if (closed) return;
    if (response?.status === 404) return unknownSymbol(root, symbol);
    // Anything else that is not a price goes through get(): main.ts shows its banner and Retry.
    const first = response?.ok ? ((await response.json()) as Tick) : await get<Tick>(`/prices/${symbol}`);
    if (closed) return;
    const header = headerPanel(symbol, first);
    const chart = chartPanel(symbol);
    const book = bookPanel(symbol);
    const tape = tapePanel(symbol);
    const ticket = ticketPanel(symbol);
    panels = [header, chart, book, tape, ticket];
    replace(root, header.el, h("div", { class: "symbol-grid" }, chart.el, ticket.el, book.el, tape.el));
    prefillTicket(ticket.el);
  };
  void load().catch(() => undefined);
  return () => {
    closed = true;
    panels.forEach((p) => p.dispose());
    document.title = TITLE;
  };
}

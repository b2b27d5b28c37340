import {
  CandlestickSeries,
  createChart,
  HistogramSeries,
  type IChartApi,
  type ISeriesApi,
  type UTCTimestamp,
} from "lightweight-charts";
import { get, type Book, type Candle, type Level, type Print } from "../api";
import { h, replace, time } from "../dom";
import type { Cleanup } from "../main";
import { money } from "../money";
import { stream } from "../stream";
import { ticketPanel } from "./ticket";

const INTERVALS = ["1m", "5m", "15m", "1h", "1d"] as const;
const UP = "#26a69a";
const DOWN = "#ef5350";

type Bar = Pick<Candle, "start" | "open" | "high" | "low" | "close" | "volume">;

function toPoint(c: Bar) {
  const t = (Date.parse(c.start) / 1000) as UTCTimestamp;
  const up = Number(c.close) >= Number(c.open);
  return {
    candle: { time: t, open: Number(c.open), high: Number(c.high), low: Number(c.low), close: Number(c.close) },
    volume: { time: t, value: c.volume, color: up ? `${UP}80` : `${DOWN}80` },
  };
}

function chartPanel(symbol: string): { el: HTMLElement; dispose: () => void } {
  const box = h("div", { class: "chart", "data-testid": "chart" });
  const buttons = INTERVALS.map((i) =>
    h("button", { type: "button", class: "small", "aria-pressed": i === "1m" ? "true" : "false", "data-interval": i }, i),
  );
  const el = h(
    "section",
    { class: "card chart-card", "aria-label": `${symbol} chart` },
    h("div", { class: "row-between" }, h("h2", {}, "Chart"), h("div", { class: "seg", role: "group", "aria-label": "Interval" }, ...buttons)),
    box,
  );
  const chart: IChartApi = createChart(box, {
    autoSize: true,
    layout: { background: { color: "transparent" }, textColor: "#9aa4b2" },
    grid: { vertLines: { color: "#1f2630" }, horzLines: { color: "#1f2630" } },
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

  let interval: string = "1m";
  let unsubscribe: () => void = () => undefined;
  let generation = 0;
  const show = async (next: string) => {
    interval = next;
    const mine = ++generation;
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.interval === next));
    unsubscribe();
    const bars = await get<Candle[]>(`/candles/${symbol}?interval=${next}&limit=300`);
    if (mine !== generation) return;
    const points = bars.map(toPoint);
    candles.setData(points.map((p) => p.candle));
    volume.setData(points.map((p) => p.volume));
    chart.timeScale().fitContent();
    unsubscribe = stream.subscribe([`candles:${symbol}:${next}`]);
  };
  for (const b of buttons) b.addEventListener("click", () => void show(b.dataset.interval ?? "1m"));
  const off = stream.on("candle", (m) => {
    if (m.symbol !== symbol || m.interval !== interval) return;
    const p = toPoint(m as unknown as Bar);
    try {
      candles.update(p.candle);
      volume.update(p.volume);
    } catch {
      // an update older than the last bar (a replayed snapshot): the history already has it
    }
  });
  void show("1m");
  return {
    el,
    dispose: () => {
      generation++;
      off();
      unsubscribe();
      chart.remove();
    },
  };
}

function bookPanel(symbol: string): { el: HTMLElement; dispose: () => void } {
  const body = h("div", { class: "book-body" });
  const el = h("section", { class: "card", "aria-label": "Order book", "data-testid": "order-book" }, h("h2", {}, "Order book"), body);
  const size = (l: Level) => (l.qty === null ? "∞" : String(l.qty));
  const side = (levels: Level[], kind: "bid" | "ask") => {
    const max = Math.max(1, ...levels.map((l) => l.qty ?? 0));
    return levels.slice(0, 8).map((l) => {
      const depth = l.qty === null ? 100 : Math.round(((l.qty ?? 0) / max) * 100);
      const row = h(
        "div",
        { class: `level ${kind}` },
        h("span", { class: "num" }, money(l.price)),
        h("span", { class: "num" }, size(l)),
        h("span", { class: "muted small" }, l.house ? "house" : `${l.orders} ord`),
      );
      row.style.setProperty("--depth", `${depth}%`);
      return row;
    });
  };
  const paint = (b: Book) =>
    replace(
      body,
      h("div", { class: "level head muted" }, h("span", {}, "Price"), h("span", {}, "Size"), h("span", {}, "")),
      ...side(b.asks, "ask").reverse(),
      h("div", { class: "spread muted" }, "spread"),
      ...side(b.bids, "bid"),
    );
  const off = stream.on("book", (m) => {
    if (m.symbol === symbol) paint(m as unknown as Book);
  });
  const unsubscribe = stream.subscribe([`book:${symbol}`]);
  return { el, dispose: () => (off(), unsubscribe()) };
}

function tapePanel(symbol: string): { el: HTMLElement; dispose: () => void } {
  const list = h("ol", { class: "tape", "data-testid": "tape" });
  const el = h("section", { class: "card", "aria-label": "Trades" }, h("h2", {}, "Trades"), list);
  const item = (p: Print) =>
    h(
      "li",
      { class: p.aggressor_side === "buy" ? "up" : "down" },
      h("span", { class: "num" }, money(p.price)),
      h("span", { class: "num" }, String(p.qty)),
      h("span", { class: "muted" }, time(p.ts)),
    );
  let closed = false;
  void get<Print[]>(`/market-trades/${symbol}?limit=30`).then((prints) => {
    if (!closed) list.append(...prints.map(item));
  });
  const off = stream.on("trade", (m) => {
    if (m.symbol !== symbol) return;
    list.prepend(item(m as unknown as Print));
    while (list.children.length > 50) list.lastElementChild?.remove();
  });
  const unsubscribe = stream.subscribe([`trades:${symbol}`]);
  return { el, dispose: () => ((closed = true), off(), unsubscribe()) };
}

export function viewSymbol(root: HTMLElement, symbol: string): Cleanup {
  const chart = chartPanel(symbol);
  const book = bookPanel(symbol);
  const tape = tapePanel(symbol);
  const ticket = ticketPanel(symbol);
  replace(
    root,
    h("div", { class: "row-between" }, h("h1", {}, symbol), h("a", { href: "#/" }, "← Markets")),
    h("div", { class: "symbol-grid" }, chart.el, ticket.el, book.el, tape.el),
  );
  return () => [chart, book, tape, ticket].forEach((p) => p.dispose());
}

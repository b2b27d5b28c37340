import "../styles/market.css";
import { BaselineSeries, createChart, type UTCTimestamp } from "lightweight-charts";
import { get } from "../api";
import { chartColours, pctHundredths, signedCents, signedPct } from "../change";
import { h, replace } from "../dom";
import type { Cleanup } from "../main";
import { fromCents, money, signClass, toCents } from "../money";
import { stream } from "../stream";
import type { PortfolioDetail, PortfolioHistory, PositionDetail } from "../types";

// Alpaca's period and the bar length that gives it a readable number of points.
const PERIODS = [
  ["1D", "5Min", "Day"],
  ["1W", "1H", "Week"],
  ["1M", "1D", "Month"],
] as const;
const PALETTE = ["#4f8cff", "#26a69a", "#ffb74d", "#ba68c8", "#4dd0e1", "#f06292", "#aed581", "#90a4ae"];

const signedMoney = (text: string | null | undefined) => (text == null ? "—" : signedCents(toCents(text) ?? 0n));

function equityPanel(): { el: HTMLElement; dispose: () => void; reload: () => void; live: (equity: string) => void } {
  const box = h("div", { class: "equity-chart", "data-testid": "equity-chart" });
  const caption = h("p", { class: "muted small", "data-testid": "equity-caption" });
  const buttons = PERIODS.map(([period, , label]) =>
    h("button", { type: "button", class: "small", "data-period": period, "aria-pressed": String(period === "1D") }, label),
  );
  const el = h(
    "section",
    { class: "card equity-card", "aria-label": "Equity over time" },
    h("div", { class: "row-between" }, h("h2", {}, "Equity"), h("div", { class: "seg", role: "group", "aria-label": "Period" }, ...buttons)),
    box,
    caption,
  );
  const colours = chartColours();
  const chart = createChart(box, {
    autoSize: true,
    layout: { background: { color: "transparent" }, textColor: colours.text },
    grid: { vertLines: { visible: false }, horzLines: { color: colours.grid } },
    timeScale: { timeVisible: true, secondsVisible: false },
  });
  const series = chart.addSeries(BaselineSeries, {
    topLineColor: "#26a69a",
    topFillColor1: "rgba(38, 166, 154, 0.28)",
    topFillColor2: "rgba(38, 166, 154, 0.04)",
    bottomLineColor: "#ef5350",
    bottomFillColor1: "rgba(239, 83, 80, 0.04)",
    bottomFillColor2: "rgba(239, 83, 80, 0.28)",
  });
  let period: (typeof PERIODS)[number] = PERIODS[0];
  let generation = 0;
  // An answer or a stream message can land after the screen was left; the chart is gone then.
  let disposed = false;
  let shown: { last: UTCTimestamp; base: bigint; label: string } | null = null;
  const describe = (label: string, equity: bigint, base: bigint) => {
    const pl = equity - base;
    caption.textContent = `${label}: ${signedCents(pl)} (${signedCents(pctHundredths(pl, base))}%) from ${fromCents(base)}`;
    caption.className = `small ${pl > 0n ? "up" : pl < 0n ? "down" : ""}`;
  };
  const load = async () => {
    const mine = ++generation;
    const [p, timeframe, label] = period;
    const history = await get<PortfolioHistory>(`/portfolio/history?period=${p}&timeframe=${timeframe}`);
    if (disposed || mine !== generation) return;
    // floats only for drawing; the caption's amounts are the exact strings
    series.applyOptions({ baseValue: { type: "price", price: Number(history.base_value) } });
    series.setData(history.timestamp.map((t, i) => ({ time: t as UTCTimestamp, value: Number(history.equity[i]) })));
    chart.timeScale().fitContent();
    const base = toCents(history.base_value) ?? 0n;
    const last = history.timestamp.at(-1);
    shown = last === undefined ? null : { last: last as UTCTimestamp, base, label };
    describe(label, toCents(history.equity.at(-1) ?? history.base_value) ?? base, base);
    el.dataset.points = String(history.timestamp.length);
  };
  for (const b of buttons) {
    b.addEventListener("click", () => {
      period = PERIODS.find(([p]) => p === b.dataset.period) ?? PERIODS[0];
      for (const other of buttons) other.setAttribute("aria-pressed", String(other === b));
      void load().catch(() => undefined);
    });
  }
  void load().catch(() => (caption.textContent = "Could not load the equity history."));
  return {
    el,
    reload: () => void load().catch(() => undefined),
    // The bar forming now follows the summary's equity between reloads.
    live: (equity: string) => {
      const cents = toCents(equity);
      if (disposed || !shown || cents === null) return;
      series.update({ time: shown.last, value: Number(equity) });
      describe(shown.label, cents, shown.base);
    },
    dispose: () => {
      disposed = true;
      chart.remove();
    },
  };
}

/** Each position's share of the market value, as one bar and a legend. */
function allocation(p: PortfolioDetail): HTMLElement {
  const cash = toCents(p.cash) ?? 0n;
  const parts = p.positions
    .map((pos) => ({ name: pos.symbol, cents: toCents(pos.market_value ?? pos.cost_basis) ?? 0n }))
    .filter((x) => x.cents > 0n);
  parts.push({ name: "Cash", cents: cash > 0n ? cash : 0n });
  const total = parts.reduce((sum, x) => sum + x.cents, 0n) || 1n;
  const share = (cents: bigint) => Number((cents * 10000n) / total) / 100;
  const bar = h("div", { class: "alloc", role: "img", "aria-label": parts.map((x) => `${x.name} ${share(x.cents)}%`).join(", ") });
  const legend = h("ul", { class: "alloc-legend" });
  parts.forEach((x, i) => {
    const colour = x.name === "Cash" ? "#5c6673" : PALETTE[i % PALETTE.length];
    const piece = h("span", { title: `${x.name} ${share(x.cents)}%` });
    piece.style.width = `${share(x.cents)}%`;
    piece.style.background = colour;
    bar.append(piece);
    const swatch = h("i");
    swatch.style.background = colour;
    legend.append(h("li", {}, swatch, `${x.name} ${share(x.cents).toFixed(2)}%`));
  });
  return h("section", { class: "card", "aria-label": "Allocation", "data-testid": "allocation" }, h("h2", {}, "Allocation"), bar, legend);
}

/** The position's own change today against what it was worth at the open plus today's buys. */
function todayPct(pos: PositionDetail): string {
  const change = toCents(pos.change_today ?? "");
  const value = toCents(pos.market_value ?? "");
  if (change === null || value === null || value - change <= 0n) return "";
  return `${signedCents(pctHundredths(change, value - change))}%`;
}

function positionRow(pos: PositionDetail): HTMLElement {
  const sell = `#/symbol/${pos.symbol}?side=sell`;
  return h(
    "tr",
    { "data-symbol": pos.symbol },
    h("th", { scope: "row" }, h("a", { href: `#/symbol/${pos.symbol}` }, pos.symbol)),
    h("td", { class: "num", "data-testid": `qty-${pos.symbol}` }, String(pos.qty)),
    h("td", { class: "num hide-s" }, money(pos.avg_cost)),
    h("td", { class: "num hide-s", "data-testid": `cost-${pos.symbol}` }, money(pos.cost_basis)),
    h("td", { class: "num hide-s" }, money(pos.last_price)),
    h("td", { class: "num" }, money(pos.market_value)),
    h("td", { class: `num ${signClass(pos.change_today)}`, "data-testid": `today-${pos.symbol}` }, signedMoney(pos.change_today), h("br"), h("span", { class: "small" }, todayPct(pos))),
    h(
      "td",
      { class: `num ${signClass(pos.unrealized_pnl)}`, "data-testid": `pnl-${pos.symbol}` },
      signedMoney(pos.unrealized_pnl),
      h("br"),
      h("span", { class: "small", "data-testid": `pnl-pct-${pos.symbol}` }, signedPct(pos.unrealized_pnl_pct)),
    ),
    h(
      "td",
      {},
      h(
        "div",
        { class: "position-actions" },
        h("a", { href: sell, "aria-label": `Sell ${pos.symbol}` }, "Sell"),
        h("a", { href: `${sell}&qty=${pos.qty}`, "aria-label": `Close ${pos.symbol}: sell all ${pos.qty}`, "data-testid": `close-${pos.symbol}` }, "Close"),
      ),
    ),
  );
}

export function viewPortfolio(root: HTMLElement): Cleanup {
  const summary = h("dl", { class: "summary", "data-testid": "portfolio-summary" });
  const alloc = h("div");
  const body = h("tbody");
  const equity = equityPanel();
  replace(
    root,
    h("h1", {}, "Portfolio"),
    summary,
    equity.el,
    h("h2", {}, "Positions"),
    h(
      "div",
      { class: "scroll" },
      h(
        "table",
        { class: "grid", "data-testid": "positions" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, "Symbol"),
            h("th", { scope: "col", class: "num" }, "Qty"),
            h("th", { scope: "col", class: "num hide-s" }, "Avg cost"),
            h("th", { scope: "col", class: "num hide-s" }, "Cost basis"),
            h("th", { scope: "col", class: "num hide-s" }, "Last"),
            h("th", { scope: "col", class: "num" }, "Value"),
            h("th", { scope: "col", class: "num" }, "Today"),
            h("th", { scope: "col", class: "num" }, "P&L"),
            h("th", { scope: "col" }, h("span", { class: "sr" }, "Actions")),
          ),
        ),
        body,
      ),
    ),
    alloc,
  );
  const paint = (p: PortfolioDetail) => {
    const item = (label: string, value: string, testid: string, cls = "", extra = "") =>
      h("div", {}, h("dt", {}, label), h("dd", { class: cls, "data-testid": testid }, value, extra && h("span", { class: "small" }, ` ${extra}`)));
    replace(
      summary,
      item("Equity", money(p.equity), "equity"),
      item("Today", signedMoney(p.change_today), "change-today", signClass(p.change_today), p.change_today_pct == null ? "" : `(${signedPct(p.change_today_pct)})`),
      item("Cash", money(p.cash), "cash"),
      item("Buying power", money(p.buying_power), "buying-power"),
      item("Reserved", money(p.reserved_cash), "reserved"),
      item("Unrealized P&L", signedMoney(p.unrealized_pnl), "unrealized", signClass(p.unrealized_pnl)),
      item("Realized P&L", signedMoney(p.realized_pnl), "realized", signClass(p.realized_pnl)),
    );
    replace(
      body,
      ...(p.positions.length
        ? p.positions.map(positionRow)
        : [h("tr", {}, h("td", { colspan: 9, class: "muted" }, "No positions yet. Pick a symbol on ", h("a", { href: "#/" }, "Markets"), " to buy."))]),
    );
    replace(alloc, allocation(p));
    equity.live(p.equity);
  };
  // The stream sends a portfolio after every fill; prices move values in between, so re-read.
  const offs = [
    stream.on("portfolio", (m) => {
      paint(m.portfolio as PortfolioDetail);
      equity.reload();
    }),
    stream.subscribe(["portfolio"]),
  ];
  const load = () => void get<PortfolioDetail>("/portfolio").then(paint).catch(() => undefined);
  load();
  const timer = window.setInterval(load, 5000);
  // New bars begin with time, not only with fills.
  const barTimer = window.setInterval(equity.reload, 60_000);
  return () => {
    offs.forEach((off) => off());
    window.clearInterval(timer);
    window.clearInterval(barTimer);
    equity.dispose();
  };
}

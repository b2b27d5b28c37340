import "../styles/market.css";
import { get, type WatchRow } from "../api";
import { pctHundredths, signedCents } from "../change";
import { h, replace } from "../dom";
import type { Cleanup } from "../main";
import { marketMinute, tradingDay } from "../marketTime";
import { fromCents, money, signClass, toCents } from "../money";
import { stream, type Message } from "../stream";
import { watchlist } from "../watchlist";

const SVG = "http://www.w3.org/2000/svg";
const SPARK_MINUTES = 30;
const RESORT_MS = 3000;

/** Draws closes as a polyline; floats are fine here: it is a picture, not an amount. */
function drawSparkline(svg: SVGSVGElement, points: string[]): void {
  const values = points.map(Number);
  const lo = Math.min(...values);
  const span = Math.max(...values) - lo || 1;
  let line = svg.querySelector("polyline");
  if (!line) svg.append((line = document.createElementNS(SVG, "polyline")));
  line.setAttribute(
    "points",
    values
      .map((v, i) => `${((i / Math.max(1, values.length - 1)) * 100).toFixed(1)},${(22 - ((v - lo) / span) * 20).toFixed(1)}`)
      .join(" "),
  );
  // Coloured by its own direction over its own span (labelled in the header), not by "today".
  const up = values.length > 1 && values[values.length - 1] >= values[0];
  line.setAttribute("class", up ? "up" : "down");
}

function sparkline(): SVGSVGElement {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 100 24");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "spark");
  svg.setAttribute("aria-hidden", "true");
  return svg;
}

type Column = "symbol" | "price" | "change" | "change_pct";

interface Row {
  data: WatchRow;
  minute: number; // market time, as the 1m candles of the sparkline
  day: string | null; // the trading day of the row's latest tick, when it says (market_ts)
  tr: HTMLTableRowElement;
  star: HTMLButtonElement;
  price: HTMLElement;
  change: HTMLElement;
  pct: HTMLElement;
  spark: SVGSVGElement;
}

const reducedMotion = () => window.matchMedia("(prefers-reduced-motion: reduce)").matches;

export function viewWatch(root: HTMLElement): Cleanup {
  const body = h("tbody") as HTMLTableSectionElement;
  const search = h("input", { type: "search", name: "search", placeholder: "AAPL", autocomplete: "off", "data-testid": "watch-search" }) as HTMLInputElement;
  const showAll = h("button", { type: "button", class: "small", "data-testid": "show-all" }, "All symbols");
  const showList = h("button", { type: "button", class: "small", "data-testid": "show-watchlist" });
  const empty = h("p", { class: "muted", "data-testid": "watch-empty", hidden: true });
  const sort = { column: "symbol" as Column, descending: false };
  const headers = new Map<Column, HTMLElement>();
  const th = (column: Column, label: string, cls = "") => {
    const cell = h(
      "th",
      { scope: "col", class: cls, "aria-sort": column === sort.column ? "ascending" : "none" },
      h("button", { type: "button", class: "sort", onclick: () => sortBy(column) }, label),
    );
    headers.set(column, cell);
    return cell;
  };
  replace(
    root,
    h("h1", {}, "Markets"),
    h(
      "div",
      { class: "watch-tools" },
      h("label", {}, "Find a symbol", search),
      h("div", { class: "seg", role: "group", "aria-label": "Which symbols" }, showAll, showList),
    ),
    h(
      "table",
      { class: "grid watch", "data-testid": "market-watch" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          th("symbol", "Symbol"),
          th("price", "Last", "num"),
          th("change", "Change today", "num"),
          th("change_pct", "% today", "num"),
          h("th", { scope: "col", class: "hide-s" }, `Last ${SPARK_MINUTES} min`),
        ),
      ),
      body,
    ),
    empty,
  );
  const rows = new Map<string, Row>();
  let onlyWatchlist = false;

  const paintCells = (row: Row) => {
    const d = row.data;
    row.price.textContent = money(d.price);
    row.change.textContent = signedCents(toCents(d.change) ?? 0n);
    row.change.className = `num ${signClass(d.change)}`;
    row.pct.textContent = `${signedCents(toCents(d.change_pct) ?? 0n)}%`;
    row.pct.className = `num ${signClass(d.change_pct)}`;
    drawSparkline(row.spark, d.sparkline.length ? d.sparkline : [d.price]);
    const starred = watchlist.has(d.symbol);
    row.star.setAttribute("aria-pressed", String(starred));
    row.star.setAttribute("aria-label", starred ? `Remove ${d.symbol} from the watchlist` : `Add ${d.symbol} to the watchlist`);
    row.star.textContent = starred ? "★" : "☆";
  };

  const build = (d: WatchRow): Row => {
    const star = h("button", { type: "button", class: "star" }) as HTMLButtonElement;
    const price = h("td", { class: "num price", "data-testid": `price-${d.symbol}` });
    const change = h("td", { class: "num" });
    const pct = h("td", { class: "num" });
    const spark = sparkline();
    const tr = h(
      "tr",
      { "data-symbol": d.symbol },
      h("th", { scope: "row" }, star, h("a", { href: `#/symbol/${d.symbol}` }, d.symbol)),
      price,
      change,
      pct,
      h("td", { class: "hide-s spark-cell" }, spark),
    ) as HTMLTableRowElement;
    // The whole row opens the symbol; the link stays the keyboard's way in.
    tr.addEventListener("click", (event) => {
      const target = event.target as HTMLElement;
      if (target.closest("a, button")) return;
      location.hash = `#/symbol/${d.symbol}`;
    });
    star.addEventListener("click", () => {
      watchlist.toggle(d.symbol);
      paintCells(row);
      filter();
    });
    const day = d.market_ts ? tradingDay(d.market_ts) : null;
    const row: Row = { data: d, minute: marketMinute(d), day, tr, star, price, change, pct, spark };
    paintCells(row);
    return row;
  };

  const value = (row: Row, column: Column): string | bigint =>
    column === "symbol" ? row.data.symbol : (toCents(row.data[column]) ?? 0n);
  const order = () => {
    const sorted = [...rows.values()].sort((a, b) => {
      const x = value(a, sort.column);
      const y = value(b, sort.column);
      const cmp = x < y ? -1 : x > y ? 1 : a.data.symbol < b.data.symbol ? -1 : 1;
      return sort.descending ? -cmp : cmp;
    });
    // Only moves rows that are out of place, so a focused row is rarely touched.
    sorted.forEach((row, i) => {
      if (body.children[i] !== row.tr) body.insertBefore(row.tr, body.children[i] ?? null);
    });
  };
  const sortBy = (column: Column) => {
    sort.descending = sort.column === column ? !sort.descending : column !== "symbol";
    sort.column = column;
    for (const [c, cell] of headers) {
      cell.setAttribute("aria-sort", c === column ? (sort.descending ? "descending" : "ascending") : "none");
    }
    order();
  };

  const filter = () => {
    const text = search.value.trim().toUpperCase();
    let shown = 0;
    for (const row of rows.values()) {
      const visible = (!text || row.data.symbol.includes(text)) && (!onlyWatchlist || watchlist.has(row.data.symbol));
      row.tr.hidden = !visible;
      if (visible) shown++;
    }
    showList.textContent = `Watchlist (${watchlist.size()})`;
    showAll.setAttribute("aria-pressed", String(!onlyWatchlist));
    showList.setAttribute("aria-pressed", String(onlyWatchlist));
    empty.hidden = shown > 0 || rows.size === 0;
    empty.textContent = onlyWatchlist && !text
      ? "Your watchlist is empty: add symbols with ☆ under All symbols."
      : `No symbol matches “${search.value.trim()}”.`;
  };
  search.addEventListener("input", filter);
  showAll.addEventListener("click", () => ((onlyWatchlist = false), watchlist.setView("all"), filter()));
  showList.addEventListener("click", () => ((onlyWatchlist = true), watchlist.setView("watchlist"), filter()));

  const flash = (cell: HTMLElement, cls: string) => {
    cell.classList.remove("flash-up", "flash-down");
    if (!cls || reducedMotion()) return;
    void cell.offsetWidth; // restart the animation on consecutive ticks of the same direction
    cell.classList.add(cls);
  };

  let lastResort = 0;
  const onPrice = (m: Message) => {
    const row = rows.get(String(m.symbol));
    if (!row) return;
    const price = String(m.price);
    const tick = { ts: String(m.ts), market_ts: typeof m.market_ts === "string" ? m.market_ts : null };
    // The first tick of a new session is that session's open (as on the server).
    const day = tick.market_ts ? tradingDay(tick.market_ts) : null;
    if (day !== null && row.day !== null && day > row.day) row.data.open = price;
    if (day !== null) row.day = day;
    const before = toCents(row.data.price) ?? 0n;
    const now = toCents(price) ?? 0n;
    const open = toCents(row.data.open) ?? now;
    const change = now - open;
    row.data.price = price;
    row.data.change = fromCents(change).replace(/,/g, "");
    row.data.change_pct = fromCents(pctHundredths(change, open)).replace(/,/g, "");
    const minute = marketMinute(tick);
    if (minute > row.minute) {
      row.data.sparkline = [...row.data.sparkline, price].slice(-SPARK_MINUTES);
      row.minute = minute;
    } else if (row.data.sparkline.length) {
      row.data.sparkline[row.data.sparkline.length - 1] = price;
    }
    paintCells(row);
    flash(row.price, now > before ? "flash-up" : now < before ? "flash-down" : "");
    // Price-ordered views follow the prices, but calmly, and never under a focused row.
    if (sort.column !== "symbol" && Date.now() - lastResort > RESORT_MS && !body.contains(document.activeElement)) {
      lastResort = Date.now();
      order();
    }
  };

  let closed = false;
  const off = stream.on("price", onPrice);
  let unsubscribe: () => void = () => undefined;
  // The server's default sparkline is the last 30 one-minute closes (SPARK_MINUTES).
  void get<WatchRow[]>("/market-watch")
    .then((data) => {
      if (closed) return;
      for (const d of data) rows.set(d.symbol, build(d));
      if (!data.length) body.append(h("tr", {}, h("td", { colspan: 5 }, "No prices yet: is the stock service running?")));
      onlyWatchlist = watchlist.view() === "watchlist" && watchlist.size() > 0;
      order();
      filter();
      unsubscribe = stream.subscribe(["prices"]);
    })
    .catch(() => undefined); // main.ts shows the failed load as a banner with Retry
  return () => {
    closed = true;
    off();
    unsubscribe();
  };
}

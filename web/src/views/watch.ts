import { get, type WatchRow } from "../api";
import { h, replace } from "../dom";
import type { Cleanup } from "../main";
import { fromCents, money, signClass, toCents } from "../money";
import { stream, type Message } from "../stream";

const SVG = "http://www.w3.org/2000/svg";

/** Draws closes as a polyline; floats are fine here: it is a picture, not an amount. */
function sparkline(points: string[]): SVGSVGElement {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 100 24");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "spark");
  svg.setAttribute("aria-hidden", "true");
  const values = points.map(Number);
  const lo = Math.min(...values);
  const span = Math.max(...values) - lo || 1;
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute(
    "points",
    values
      .map((v, i) => `${((i / Math.max(1, values.length - 1)) * 100).toFixed(1)},${(22 - ((v - lo) / span) * 20).toFixed(1)}`)
      .join(" "),
  );
  const up = values.length > 1 && values[values.length - 1] >= values[0];
  line.setAttribute("class", up ? "up" : "down");
  svg.append(line);
  return svg;
}

interface Row {
  data: WatchRow;
  tr: HTMLElement;
  minute: number;
}

export function viewWatch(root: HTMLElement): Cleanup {
  const body = h("tbody");
  replace(
    root,
    h("h1", {}, "Markets"),
    h(
      "table",
      { class: "grid watch", "data-testid": "market-watch" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Symbol"),
          h("th", { scope: "col", class: "num" }, "Last"),
          h("th", { scope: "col", class: "num" }, "Change"),
          h("th", { scope: "col", class: "num" }, "%"),
          h("th", { scope: "col", class: "hide-s" }, "Today"),
        ),
      ),
      body,
    ),
  );
  const rows = new Map<string, Row>();

  const paint = (row: Row, direction = "") => {
    const d = row.data;
    replace(
      row.tr,
      h("th", { scope: "row" }, h("a", { href: `#/symbol/${d.symbol}` }, d.symbol)),
      h("td", { class: `num price ${direction}`, "data-testid": `price-${d.symbol}` }, money(d.price)),
      h("td", { class: `num ${signClass(d.change)}` }, money(d.change)),
      h("td", { class: `num ${signClass(d.change_pct)}` }, `${money(d.change_pct)}%`),
      h("td", { class: "hide-s" }, sparkline(d.sparkline.length ? d.sparkline : [d.price])),
    );
  };

  const onPrice = (m: Message) => {
    const row = rows.get(String(m.symbol));
    if (!row) return;
    const price = String(m.price);
    const before = toCents(row.data.price) ?? 0n;
    const now = toCents(price) ?? 0n;
    const open = toCents(row.data.open) ?? now;
    const change = now - open;
    row.data.price = price;
    row.data.change = fromCents(change).replace(/,/g, "");
    // basis points of the open, shown to 2 places: exact integer arithmetic
    const pctHundredths = open === 0n ? 0n : (change * 10000n) / open;
    row.data.change_pct = fromCents(pctHundredths);
    const minute = Math.floor(Date.parse(String(m.ts)) / 60000);
    if (minute > row.minute) {
      row.data.sparkline = [...row.data.sparkline, price].slice(-30);
      row.minute = minute;
    } else if (row.data.sparkline.length) {
      row.data.sparkline[row.data.sparkline.length - 1] = price;
    }
    paint(row, now > before ? "tick-up" : now < before ? "tick-down" : "");
  };

  let closed = false;
  const off = stream.on("price", onPrice);
  let unsubscribe: () => void = () => undefined;
  void get<WatchRow[]>("/market-watch").then((data) => {
    if (closed) return;
    for (const d of data) {
      const tr = h("tr", { "data-symbol": d.symbol });
      const row = { data: d, tr, minute: Math.floor(Date.parse(d.ts) / 60000) };
      rows.set(d.symbol, row);
      paint(row);
      body.append(tr);
    }
    if (!data.length) body.append(h("tr", {}, h("td", { colspan: 5 }, "No prices yet: is the stock service running?")));
    unsubscribe = stream.subscribe(["prices"]);
  });
  return () => {
    closed = true;
    off();
    unsubscribe();
  };
}

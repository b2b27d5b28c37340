import { get, type Portfolio } from "../api";
import { h, replace } from "../dom";
import type { Cleanup } from "../main";
import { money, signClass } from "../money";
import { stream } from "../stream";

export function viewPortfolio(root: HTMLElement): Cleanup {
  const summary = h("dl", { class: "summary", "data-testid": "portfolio-summary" });
  const body = h("tbody");
  replace(
    root,
    h("h1", {}, "Portfolio"),
    summary,
    h("h2", {}, "Positions"),
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
          h("th", { scope: "col", class: "num" }, "Avg cost"),
          h("th", { scope: "col", class: "num hide-s" }, "Last"),
          h("th", { scope: "col", class: "num" }, "Value"),
          h("th", { scope: "col", class: "num" }, "Unrealized"),
        ),
      ),
      body,
    ),
  );
  const paint = (p: Portfolio) => {
    const item = (label: string, value: string, testid: string, cls = "") =>
      h("div", {}, h("dt", {}, label), h("dd", { class: cls, "data-testid": testid }, money(value)));
    replace(
      summary,
      item("Equity", p.equity, "equity"),
      item("Cash", p.cash, "cash"),
      item("Buying power", p.buying_power, "buying-power"),
      item("Reserved", p.reserved_cash, "reserved"),
      item("Unrealized P&L", p.unrealized_pnl, "unrealized", signClass(p.unrealized_pnl)),
      item("Realized P&L", p.realized_pnl, "realized", signClass(p.realized_pnl)),
    );
    replace(
      body,
      ...(p.positions.length
        ? p.positions.map((pos) =>
            h(
              "tr",
              { "data-symbol": pos.symbol },
              h("th", { scope: "row" }, h("a", { href: `#/symbol/${pos.symbol}` }, pos.symbol)),
              h("td", { class: "num", "data-testid": `qty-${pos.symbol}` }, String(pos.qty)),
              h("td", { class: "num" }, money(pos.avg_cost)),
              h("td", { class: "num hide-s" }, money(pos.last_price)),
              h("td", { class: "num" }, money(pos.market_value)),
              h("td", { class: `num ${signClass(pos.unrealized_pnl)}` }, money(pos.unrealized_pnl)),
            ),
          )
        : [h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No positions yet."))]),
    );
  };
  // The stream sends a portfolio after every fill; prices move values in between, so re-read.
  const off = stream.on("portfolio", (m) => paint(m.portfolio as Portfolio));
  const unsubscribe = stream.subscribe(["portfolio"]);
  const load = () => void get<Portfolio>("/portfolio").then(paint);
  load();
  const timer = window.setInterval(load, 5000);
  return () => {
    off();
    unsubscribe();
    window.clearInterval(timer);
  };
}

// The ranked table the public leaderboard and a league's standings share: rank, trader, equity,
// return, and one count column that differs between the two (symbols held, trades made).
import { signedPct } from "../change";
import { h } from "../dom";
import { money, signClass } from "../money";

export interface StandingRow {
  rank: number;
  name: string;
  equity: string;
  return_pct: string;
  count: number;
}

/** The table with its header; rows go into `body`. `countClass` styles the count column. */
export function standingsTable(testid: string, countLabel: string, countClass: string, body: HTMLElement): HTMLElement {
  return h(
    "table",
    { class: "grid", "data-testid": testid },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col", class: "num" }, "#"),
        h("th", { scope: "col" }, "Trader"),
        h("th", { scope: "col", class: "num" }, "Equity"),
        h("th", { scope: "col", class: "num" }, "Return"),
        h("th", { scope: "col", class: countClass }, countLabel),
      ),
    ),
    body,
  );
}

export function standingRow(row: StandingRow, countClass: string, attrs: Record<string, string | undefined> = {}): HTMLElement {
  return h(
    "tr",
    attrs,
    h("td", { class: "num" }, String(row.rank)),
    h("th", { scope: "row" }, row.name),
    h("td", { class: "num" }, money(row.equity)),
    h("td", { class: `num ${signClass(row.return_pct)}` }, signedPct(row.return_pct)),
    h("td", { class: countClass }, String(row.count)),
  );
}

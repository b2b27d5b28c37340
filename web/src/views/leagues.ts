// Leagues: the list, one league's standings with equity curves, and the administrator's screens.
import { LineSeries, createChart, type UTCTimestamp } from "lightweight-charts";
import { ApiError, api, get } from "../api";
import { chartColours } from "../change";
import { dateTime, h, notify, replace } from "../dom";
import type { Cleanup } from "../main";
import { money } from "../money";
import { standingRow, standingsTable } from "./standings";

interface League {
  id: string;
  name: string;
  invite_code: string | null;
  starting_cash: string;
  starts_at: string;
  ends_at: string | null;
  allowed_symbols: string[] | null;
  max_order_value: string | null;
  allow_reset: boolean;
  public: boolean;
  status: "upcoming" | "open" | "ended";
  finalized_at: string | null;
}
interface Standing {
  rank: number;
  username: string;
  account_id: string;
  equity: string;
  return_pct: string;
  trades: number;
}
interface Series {
  account_id: string;
  username: string;
  points: { ts: string; equity: string }[];
}
interface Member {
  account_id: string;
  username: string;
  cash: string;
  frozen: boolean;
}

const COLOURS = ["#2962ff", "#26a69a", "#ef5350", "#ff9800", "#ab47bc", "#8d6e63", "#29b6f6", "#9ccc65"];

const failed = (error: Error) => notify(error.message, "error");

function field(label: string, input: HTMLElement): HTMLElement {
  return h("label", { class: "field" }, label, " ", input);
}

function createForm(onCreated: (league: League) => void): HTMLElement {
  const name = h("input", { name: "name", required: true, maxlength: 100 }) as HTMLInputElement;
  const cash = h("input", { name: "starting_cash", required: true, inputmode: "decimal", value: "10000.00" }) as HTMLInputElement;
  const starts = h("input", { name: "starts_at", type: "datetime-local" }) as HTMLInputElement;
  const ends = h("input", { name: "ends_at", type: "datetime-local" }) as HTMLInputElement;
  const symbols = h("input", { name: "allowed_symbols", placeholder: "AAPL, MSFT (empty: all)" }) as HTMLInputElement;
  const maxValue = h("input", { name: "max_order_value", inputmode: "decimal", placeholder: "no limit" }) as HTMLInputElement;
  const reset = h("input", { name: "allow_reset", type: "checkbox" }) as HTMLInputElement;
  const open = h("input", { name: "public", type: "checkbox" }) as HTMLInputElement;
  const iso = (local: string) => (local ? new Date(local).toISOString() : undefined);
  return h(
    "details",
    { class: "admin" },
    h("summary", {}, "Create a league (administrators)"),
    h(
      "form",
      {
        "data-testid": "create-league",
        onsubmit: (event: Event) => {
          event.preventDefault();
          const list = symbols.value.split(/[\s,]+/).filter(Boolean);
          void api<League>("POST", "/leagues", {
            name: name.value.trim(),
            starting_cash: cash.value.trim(),
            starts_at: iso(starts.value),
            ends_at: iso(ends.value),
            allowed_symbols: list.length ? list : undefined,
            max_order_value: maxValue.value.trim() || undefined,
            allow_reset: reset.checked,
            public: open.checked,
          })
            .then(onCreated)
            .catch(failed);
        },
      },
      field("Name", name),
      field("Starting cash", cash),
      field("Starts", starts),
      field("Ends (empty: open-ended)", ends),
      field("Allowed symbols", symbols),
      field("Max order value", maxValue),
      field("Members may reset", reset),
      field("Public standings", open),
      h("button", { type: "submit" }, "Create"),
    ),
  );
}

export function viewLeagues(root: HTMLElement): Cleanup {
  const list = h("ul", { class: "plain", "data-testid": "leagues" });
  replace(
    root,
    h("h1", {}, "Leagues"),
    h("p", { class: "muted" }, "Your leagues and public ones. Join one with its code under ", h("a", { href: "#/accounts" }, "Accounts"), "."),
    list,
    createForm((league) => {
      location.hash = `#/leagues/${league.id}`;
    }),
  );
  let closed = false;
  void get<League[]>("/leagues")
    .then((leagues) => {
      if (closed) return;
      replace(
        list,
        ...(leagues.length ? leagues : []).map((lg) =>
          h("li", {}, h("a", { href: `#/leagues/${lg.id}` }, lg.name), h("span", { class: "muted" }, ` ${lg.status}, starts with ${money(lg.starting_cash)}`)),
        ),
        leagues.length ? null : h("li", { class: "muted" }, "No leagues yet."),
      );
    })
    .catch(() => undefined);
  return () => {
    closed = true;
  };
}

export function viewLeague(root: HTMLElement, id: string): Cleanup {
  const title = h("h1", {}, "League");
  const facts = h("p", { class: "muted" });
  const body = h("tbody");
  const box = h("div", { class: "chart", style: "height: 280px", "data-testid": "league-equity" });
  const admin = h("section", { hidden: true, "data-testid": "league-admin" });
  replace(
    root,
    title,
    facts,
    standingsTable("league-leaderboard", "Trades", "num", body),
    h("h2", {}, "Equity"),
    box,
    admin,
  );
  const colours = chartColours();
  const chart = createChart(box, {
    autoSize: true,
    layout: { background: { color: "transparent" }, textColor: colours.text },
    grid: { vertLines: { visible: false }, horzLines: { color: colours.grid } },
    timeScale: { timeVisible: true, secondsVisible: false },
  });
  let closed = false;
  const showLeague = (lg: League) => {
    title.textContent = lg.name;
    const window_ = `${dateTime(lg.starts_at)} – ${lg.ends_at ? dateTime(lg.ends_at) : "open-ended"}`;
    const rules = [
      `starts with ${money(lg.starting_cash)}`,
      lg.allowed_symbols ? `symbols ${lg.allowed_symbols.join(", ")}` : "",
      lg.max_order_value ? `at most ${money(lg.max_order_value)} per order` : "",
      lg.allow_reset ? "resets allowed" : "",
    ].filter(Boolean);
    facts.textContent = `${lg.status} · ${window_} · ${rules.join(" · ")}`;
  };
  const loadStandings = async () => {
    const rows = await get<Standing[]>(`/leagues/${id}/leaderboard`);
    if (closed) return;
    replace(
      body,
      ...rows.map((r) => standingRow({ ...r, name: r.username, count: r.trades }, "num")),
    );
  };
  const loadCurves = async () => {
    const all = await get<Series[]>(`/leagues/${id}/equity`);
    if (closed) return;
    all.forEach((s, i) => {
      // floats only for drawing; the table shows the exact amounts
      const line = chart.addSeries(LineSeries, { color: COLOURS[i % COLOURS.length], lineWidth: 2, title: s.username });
      line.setData(s.points.map((p) => ({ time: (Date.parse(p.ts) / 1000) as UTCTimestamp, value: Number(p.equity) })));
    });
    chart.timeScale().fitContent();
  };
  const loadAdmin = async (lg: League) => {
    let members: Member[];
    try {
      members = await get<Member[]>(`/leagues/${id}/members`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) return; // not an administrator
      throw error;
    }
    if (closed) return;
    admin.hidden = false;
    const code = h("code", { "data-testid": "invite-code-shown" }, lg.invite_code ?? "");
    replace(
      admin,
      h("h2", {}, "Administration"),
      h(
        "p",
        {},
        "Invite code: ",
        code,
        " ",
        h("button", { type: "button", onclick: () => void api<League>("POST", `/leagues/${id}/invite-code`).then((l) => (code.textContent = l.invite_code)).catch(failed) }, "Rotate"),
        " ",
        lg.status === "ended"
          ? null
          : h("button", { type: "button", onclick: () => window.confirm("End the league now? Open orders are canceled.") && void api<League>("POST", `/leagues/${id}/close`).then(() => void refresh()).catch(failed) }, "Close league"),
      ),
      h(
        "table",
        { class: "grid" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Member"), h("th", { scope: "col", class: "num" }, "Cash"), h("th", { scope: "col" }, ""))),
        h(
          "tbody",
          {},
          ...members.map((m) =>
            h(
              "tr",
              {},
              h("th", { scope: "row" }, m.username, m.frozen ? " (removed)" : ""),
              h("td", { class: "num" }, money(m.cash)),
              h(
                "td",
                {},
                m.frozen
                  ? null
                  : h("button", { type: "button", class: "link", onclick: () => window.confirm(`Remove ${m.username}?`) && void api("DELETE", `/leagues/${id}/members/${m.account_id}`).then(() => void refresh()).catch(failed) }, "Remove"),
              ),
            ),
          ),
        ),
      ),
    );
  };
  const refresh = async () => {
    const lg = await get<League>(`/leagues/${id}`);
    if (closed) return;
    showLeague(lg);
    await Promise.all([loadStandings(), loadAdmin(lg)]);
  };
  void refresh().catch(() => undefined);
  void loadCurves().catch(() => undefined);
  const timer = window.setInterval(() => void loadStandings().catch(() => undefined), 5000);
  return () => {
    closed = true;
    window.clearInterval(timer);
    chart.remove();
  };
}

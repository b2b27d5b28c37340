import "./style.css";
import { ApiError, failures, get, type Session } from "./api";
import { clearBanner, clearBanners, showBanner } from "./banner";
import { marketClock } from "./clock";
import { connectionIndicator } from "./connection";
import { h, replace } from "./dom";
import { ordersScreen, watchOrders } from "./notify";
import { stream } from "./stream";
import { signOut, viewLogin } from "./views/login";
import { forgetAccount, restoreAccount, viewAccounts } from "./views/accounts";
import { viewKeys } from "./views/keys";
import { viewLeaderboard } from "./views/leaderboard";
import { viewLeague, viewLeagues } from "./views/leagues";
import { viewOrders } from "./views/orders";
import { viewPortfolio } from "./views/portfolio";
import { viewSymbol } from "./views/symbol";
import { viewWatch } from "./views/watch";

export type Cleanup = () => void;
export interface App {
  session: Session | null;
  signedIn(session: Session | null): void;
}

const main = document.getElementById("main") as HTMLElement;
let cleanup: Cleanup | null = null;
let booted = false;
// Where a user whose session expired was: signing in again leads back there.
let returnTo: string | null = null;

const app: App = {
  session: null,
  signedIn(session) {
    app.session = session;
    forgetAccount();
    stream.start();
    watchOrders(session !== null);
    renderHeader();
    clearBanner("session");
    const next = session ? (returnTo ?? "#/") : "#/login";
    returnTo = null;
    if (location.hash === next) route();
    else location.hash = next;
  },
};

/** A 401 (or the live stream's token_expired): signed out by time, not by choice. */
function sessionExpired(): void {
  if (!app.session) return;
  app.session = null;
  stream.start();
  watchOrders(false);
  renderHeader();
  if (!location.hash.startsWith("#/login")) returnTo = location.hash || "#/";
  showBanner("session", "Your session expired, sign in again.", { tone: "info" });
  location.hash = "#/login";
}

const READS: [RegExp, string][] = [
  [/^\/market-watch/, "market prices"],
  [/^\/portfolio/, "your portfolio"],
  [/^\/orders/, "your orders"],
  [/^\/leaderboard/, "the leaderboard"],
  [/^\/candles/, "the chart"],
  [/^\/market-trades/, "recent trades"],
  [/^\/session/, "your session"],
];

failures.expired = sessionExpired;
failures.read = (path, error) => {
  const key = `read:${path.split("?")[0]}`;
  if (!error) return clearBanner(key);
  const what = READS.find(([re]) => re.test(path))?.[1] ?? "data";
  showBanner(key, `Could not load ${what}: ${error.message}.`, {
    retry: () => (booted ? route() : void boot()),
  });
};
stream.onExpired = () => {
  get<Session | null>("/session")
    .then((session) => session || sessionExpired())
    .catch(() => undefined); // the banner says why
};
// Failed loads are reported once, as banners (failures.read); a view that lets the promise go
// has nothing more to say, and the console should not call it uncaught.
window.addEventListener("unhandledrejection", (event) => {
  if (event.reason instanceof ApiError) event.preventDefault();
});

function renderHeader(): void {
  const nav = document.getElementById("nav") as HTMLElement;
  const who = document.getElementById("who") as HTMLElement;
  nav.hidden = app.session === null;
  replace(
    who,
    app.session &&
      h("span", { class: "user", "data-testid": "username" }, app.session.username),
    app.session &&
      h("button", { type: "button", class: "link", onclick: () => void signOut(app).catch(() => undefined) }, "Sign out"),
  );
}

function route(): void {
  cleanup?.();
  cleanup = null;
  clearBanners("read:");
  // "?side=sell&qty=6" after a symbol prefills its ticket (views/symbol.ts); routing ignores it.
  const path = location.hash.replace(/^#/, "").split("?")[0] || "/";
  const [, page = "", arg = ""] = path.split("/");
  for (const link of document.querySelectorAll<HTMLAnchorElement>("#nav a")) {
    const target = link.getAttribute("href")?.slice(2) ?? "";
    if ((target || "symbol") === (page || "symbol") || (!target && !page)) {
      link.setAttribute("aria-current", "page");
    } else {
      link.removeAttribute("aria-current");
    }
  }
  ordersScreen(page === "orders" && app.session !== null);
  replace(main);
  if (page === "leaderboard") {
    cleanup = viewLeaderboard(main);
  } else if (!app.session || page === "login") {
    if (app.session) {
      location.hash = "#/";
      return;
    }
    // Deep links opened signed out come back here after signing in.
    if (page !== "login" && page !== "") returnTo = location.hash;
    cleanup = viewLogin(main, app);
  } else if (page === "symbol" && /^[A-Za-z.]{1,10}$/.test(arg)) {
    cleanup = viewSymbol(main, arg.toUpperCase());
  } else if (page === "orders") {
    cleanup = viewOrders(main);
  } else if (page === "accounts") {
    cleanup = viewAccounts(main);
  } else if (page === "leagues") {
    cleanup = /^[0-9a-f-]{36}$/.test(arg) ? viewLeague(main, arg) : viewLeagues(main);
  } else if (page === "portfolio") {
    cleanup = viewPortfolio(main);
  } else if (page === "keys") {
    cleanup = viewKeys(main);
  } else {
    cleanup = viewWatch(main);
  }
  // Screen readers and keyboards start at the new content, unless the view focused a field.
  if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
}

async function boot(): Promise<void> {
  restoreAccount();
  // The stream authenticates from the cookie by itself: it need not wait for /session, and the
  // header's connection state is true even while /session fails.
  stream.start();
  try {
    app.session = await get<Session | null>("/session");
  } catch {
    return; // failures.read shows the banner; its Retry boots again
  }
  booted = true;
  watchOrders(app.session !== null);
  renderHeader();
  window.addEventListener("hashchange", route);
  route();
  document.body.dataset.ready = "true";
}

// lightweight-charts draws TradingView's logo link, the attribution its licence asks for: it stays
// visible and clickable, gets a name, and leaves the tab order (a mouse-only extra, not content).
new MutationObserver(() => {
  for (const logo of main.querySelectorAll<HTMLAnchorElement>("a#tv-attr-logo:not([tabindex])")) {
    logo.tabIndex = -1;
    logo.rel = "noopener";
    logo.setAttribute("aria-label", "Charting by TradingView (opens in a new tab)");
  }
}).observe(main, { childList: true, subtree: true });
connectionIndicator(document.getElementById("conn") as HTMLElement);
marketClock(document.getElementById("clock") as HTMLElement);
void boot();

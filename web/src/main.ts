import "./style.css";
import { get, type Session } from "./api";
import { h, replace } from "./dom";
import { stream } from "./stream";
import { signOut, viewLogin } from "./views/login";
import { viewLeaderboard } from "./views/leaderboard";
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

const app: App = {
  session: null,
  signedIn(session) {
    app.session = session;
    stream.start();
    renderHeader();
    location.hash = session ? "#/" : "#/login";
    route();
  },
};

function renderHeader(): void {
  const nav = document.getElementById("nav") as HTMLElement;
  const who = document.getElementById("who") as HTMLElement;
  nav.hidden = app.session === null;
  replace(
    who,
    app.session &&
      h("span", { class: "user", "data-testid": "username" }, app.session.username),
    app.session &&
      h("button", { type: "button", class: "link", onclick: () => void signOut(app) }, "Sign out"),
  );
}

function route(): void {
  cleanup?.();
  cleanup = null;
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
  replace(main);
  if (page === "leaderboard") {
    cleanup = viewLeaderboard(main);
  } else if (!app.session || page === "login") {
    if (app.session) {
      location.hash = "#/";
      return;
    }
    cleanup = viewLogin(main, app);
  } else if (page === "symbol" && /^[A-Za-z.]{1,10}$/.test(arg)) {
    cleanup = viewSymbol(main, arg.toUpperCase());
  } else if (page === "orders") {
    cleanup = viewOrders(main);
  } else if (page === "portfolio") {
    cleanup = viewPortfolio(main);
  } else {
    cleanup = viewWatch(main);
  }
  // Screen readers and keyboards start at the new content, unless the view focused a field.
  if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
}

async function boot(): Promise<void> {
  app.session = await get<Session | null>("/session");
  stream.start();
  renderHeader();
  window.addEventListener("hashchange", route);
  route();
  document.body.dataset.ready = "true";
}

void boot();

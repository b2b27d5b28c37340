// End-to-end checks of the market, portfolio and sign-up screens (issue 15 items 9-11, 14, 15)
// in headless Chromium against a running system (run.sh starts one). Each check is a function
// of a page, so a runner that covers several widths can call them; run alone, this file signs
// up a user and runs them all at 1366x900. Fails on any console error or page error.
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { chromium } from "playwright-core";

const BASE = process.env.STOCKSIM_URL ?? "http://127.0.0.1:8002";
const ARTIFACTS = resolve(process.env.ARTIFACTS ?? "../test-artifacts/e2e");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const TIMEOUT = 20_000;
const PASSWORD = "plum-kettle-orbit-42";

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

/** A JSON call with the page's session cookie, as the page itself makes it. */
async function call(page, method, path, body) {
  return page.evaluate(
    async ([method, path, body]) => {
      const response = await fetch(path, {
        method,
        headers: { "X-Requested-With": "stocksim-web", "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, body: await response.json().catch(() => null) };
    },
    [method, path, body],
  );
}

export async function checkSignUp(page, user) {
  await page.goto(BASE);
  await page.locator("form.auth").waitFor();
  // a newcomer learns what this is before signing in
  const intro = await page.getByTestId("intro").textContent();
  check(intro.includes("100,000.00") && /matching engine/i.test(intro) && /live prices/i.test(intro), "intro says what you get");
  await page.getByRole("button", { name: "New here? Create an account" }).click();
  await page.getByLabel("User name").fill(user);
  await page.getByLabel("Email").fill(`${user}@example.com`);
  await page.getByLabel("Password").fill("password");
  // live rules: too short and, once the list has loaded, too common
  await page.locator("[data-testid=password-rules] li.bad").filter({ hasText: "10 characters" }).waitFor();
  await page.getByLabel("Password").fill("password1234");
  await page.locator("[data-testid=password-rules] li.bad").filter({ hasText: "most common" }).waitFor();
  await page.getByRole("button", { name: "Sign up" }).click();
  await page.getByTestId("auth-error").filter({ hasText: "Password: not one of the 10,000 most common" }).waitFor();
  // the server refuses it too, in words
  const weak = await call(page, "POST", "/session/register", { username: `${user}x`, email: `${user}x@example.com`, password: "password" });
  check(weak.status === 422 && weak.body.error === "weak_password", `server refuses "password" (${JSON.stringify(weak)})`);
  check(/^[A-Z]/.test(weak.body.detail), `the refusal is a sentence (${weak.body.detail})`);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.locator("[data-testid=password-rules] li.bad").waitFor({ state: "detached" });
  await page.getByRole("button", { name: "Sign up" }).click();
  await page.getByTestId("username").filter({ hasText: user }).waitFor();
}

export async function checkSignInByUsername(page, user) {
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.locator("form.auth").waitFor();
  await page.getByLabel("Email or user name").fill(user.toUpperCase());
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  const refusal = await page.getByTestId("auth-error").filter({ hasText: "Incorrect" }).textContent();
  check(/^[A-Z].*\.$/.test(refusal), `a capitalised sentence (${refusal})`);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByTestId("username").filter({ hasText: user }).waitFor();
}

export async function checkMarketWatch(page) {
  await page.goto(`${BASE}/#/`);
  const rows = page.locator("[data-testid=market-watch] tbody tr[data-symbol]");
  await rows.first().waitFor();
  const symbols = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.symbol));
  check(symbols.join() === [...symbols].sort().join(), "sorted by symbol at first");
  // sort by % today, largest first
  // clicked and read in one task: prices tick between two steps of the test
  const pcts = await page.evaluate(() => {
    [...document.querySelectorAll("[data-testid=market-watch] th button")].find((b) => b.textContent === "% today").click();
    return [...document.querySelectorAll("[data-testid=market-watch] tbody tr[data-symbol] td:nth-child(4)")].map((td) => td.textContent);
  });
  check((await page.locator("th[aria-sort=descending]").textContent()).includes("% today"), "header says how it sorts");
  const values = pcts.map((t) => Number(t.replace(/[+%,]/g, "")));
  check(values.every((v, i) => i === 0 || values[i - 1] >= v), `sorted by % (${pcts.join(" ")})`);
  await page.getByRole("button", { name: "Symbol", exact: true }).click();
  // search
  const target = symbols[1];
  await page.getByTestId("watch-search").fill(target.slice(0, 3).toLowerCase());
  const shown = await page.locator("[data-testid=market-watch] tbody tr[data-symbol]:visible").evaluateAll((trs) => trs.map((tr) => tr.dataset.symbol));
  check(shown.includes(target) && shown.every((s) => s.includes(target.slice(0, 3))), `search filters (${shown})`);
  await page.getByTestId("watch-search").fill("");
  // watchlist: add, filter, survives a reload
  const add = page.getByRole("button", { name: `Add ${target} to the watchlist` });
  if (await add.count()) await add.click(); // a second run (the other width) finds it starred
  await page.getByTestId("show-watchlist").filter({ hasText: "Watchlist (1)" }).click();
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=market-watch] tbody tr[data-symbol]:not([hidden])").length === 1);
  await page.reload();
  await page.locator(`[data-testid=market-watch] tr[data-symbol="${target}"]`).waitFor();
  check((await page.locator("[data-testid=market-watch] tbody tr[data-symbol]:not([hidden])").count()) === 1, "watchlist view kept after reload");
  await page.getByTestId("show-all").click();
  // focus survives live ticks: cells update in place
  const link = page.getByRole("link", { name: symbols[0], exact: true });
  await link.focus();
  const price = page.getByTestId(`price-${symbols[0]}`);
  const before = await price.textContent();
  await page.waitForFunction(([s, old]) => document.querySelector(`[data-testid=price-${s}]`)?.textContent !== old, [symbols[0], before], { timeout: 15_000 }).catch(() => undefined);
  await page.waitForTimeout(1500);
  check(await page.evaluate((s) => document.activeElement?.textContent === s && document.activeElement.tagName === "A", symbols[0]), "focus kept across ticks");
  // no flash with reduced motion
  await page.emulateMedia({ reducedMotion: "reduce" });
  await page.waitForTimeout(2500);
  check((await page.locator(".flash-up, .flash-down").count()) === 0, "no flashing under prefers-reduced-motion");
  await page.emulateMedia({ reducedMotion: "no-preference" });
  // sparkline is labelled with its own span
  check((await page.locator("[data-testid=market-watch] thead").textContent()).includes("Last 30 min"), "sparkline labelled");
  await page.screenshot({ path: `${ARTIFACTS}/m02-markets-${page.viewportSize().width}.png`, fullPage: true });
  // the whole row is a link
  await page.locator(`[data-testid=market-watch] tr[data-symbol="${target}"] td:nth-child(3)`).click();
  await page.waitForURL(`**/#/symbol/${target}`);
  return target;
}

export async function checkSymbolScreen(page, symbol) {
  await page.goto(`${BASE}/#/symbol/${symbol}`);
  await page.getByTestId("symbol-price").filter({ hasText: /\d/ }).waitFor();
  await page.getByTestId("day-range").filter({ hasText: "–" }).waitFor();
  await page.waitForFunction((s) => new RegExp(`^${s} [\\d,]+\\.\\d\\d [▲▼]?-?\\d+\\.\\d\\d% · stocksim$`).test(document.title), symbol);
  // OHLC readout: the newest bar, then the bar under the crosshair
  await page.getByTestId("ohlc").filter({ hasText: /O \S+H \S+L \S+C / }).waitFor();
  const canvas = page.locator("[data-testid=chart] canvas").first();
  const box = await canvas.boundingBox();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.5);
  await page.getByTestId("ohlc").filter({ hasText: /O [\d,.]+/ }).waitFor();
  // book: spread value in money and bps, the house tagged, a depth chart, tape headers
  const spread = await page.getByTestId("spread").filter({ hasText: "bps" }).textContent();
  check(/^Spread \d+\.\d\d \(\d+\.\d bps\)$/.test(spread), `spread has its value (${spread})`);
  await page.locator("[data-testid=order-book] .house-tag").first().waitFor();
  const houseBar = await page.locator("[data-testid=order-book] .level.house").first().evaluate((el) => el.style.getPropertyValue("--depth"));
  check(houseBar === "0%", `the house's infinite level draws no full bar (${houseBar})`);
  await page.locator("[data-testid=depth-chart] line.depth-house").first().waitFor({ state: "attached" });
  check((await page.locator("section[aria-label=Trades] .tape-head").textContent()).includes("Price"), "tape has headers");
  // your orders as lines and your fills as markers
  const last = (await page.getByTestId("symbol-price").textContent()).replace(/,/g, "");
  const far = (Number(last) * 0.7).toFixed(2);
  const resting = await call(page, "POST", "/orders", { symbol, side: "buy", type: "limit", qty: 1, limit_price: far, time_in_force: "gtc" });
  check(resting.status === 201, `limit order accepted (${JSON.stringify(resting)})`);
  const bought = await call(page, "POST", "/orders?wait=true", { symbol, side: "buy", type: "market", qty: 6 });
  check(bought.status === 201 && bought.body.status === "filled", `market buy filled (${JSON.stringify(bought.body)})`);
  await page.locator(".chart-card[data-order-lines='1']").waitFor();
  // a real resting order has a size: the depth chart draws it to scale
  await page.locator("[data-testid=depth-chart] path.depth-bid").waitFor();
  await page.waitForFunction(() => Number(document.querySelector(".chart-card")?.dataset.fillMarkers) >= 1);
  // the fill's arrow sits on a bar of the market-time axis: the newest 1m bars (fills are stamped
  // in wall time; the page places them by their market_time)
  const fillBar = Number(await page.locator(".chart-card").getAttribute("data-last-fill-bar"));
  const recent = await call(page, "GET", `/candles/${symbol}?interval=1m&limit=3`);
  const starts = recent.body.map((bar) => Date.parse(bar.start) / 1000);
  check(starts.includes(fillBar), `fill marker on a recent 1m bar (${fillBar} in ${starts})`);
  const cancel = await call(page, "DELETE", `/orders/${resting.body.id}`);
  check(cancel.status < 300, `resting order canceled (${cancel.status})`);
  await page.locator(".chart-card[data-order-lines='0']").waitFor();
}

export async function checkUnknownSymbol(page) {
  await page.goto(`${BASE}/#/symbol/ZZZZ`);
  await page.getByTestId("unknown-symbol").filter({ hasText: "Unknown symbol" }).waitFor();
  check((await page.getByRole("button", { name: /buy/i }).count()) === 0, "no Buy button for an unknown symbol");
  check((await page.locator("form").count()) === 0, "no ticket for an unknown symbol");
}

export async function checkPortfolio(page, symbol) {
  await page.goto(`${BASE}/#/portfolio`);
  await page.getByTestId(`qty-${symbol}`).filter({ hasText: "6" }).waitFor();
  check(/^[+-]?[\d,]+\.\d\d%$/.test((await page.getByTestId(`pnl-pct-${symbol}`).textContent()).trim()), "P&L % per position");
  check(/\d/.test(await page.getByTestId(`cost-${symbol}`).textContent()), "cost basis shown");
  check(/[\d—]/.test(await page.getByTestId(`today-${symbol}`).textContent()), "change today per position");
  await page.getByTestId("change-today").filter({ hasText: /\d/ }).waitFor();
  await page.locator("section[aria-label='Equity over time'][data-points]").waitFor();
  await page.locator("[data-testid=equity-chart] canvas").first().waitFor();
  await page.getByRole("button", { name: "Week" }).click();
  await page.getByTestId("equity-caption").filter({ hasText: "Week:" }).waitFor();
  check((await page.getByTestId("allocation").textContent()).includes(symbol), "allocation lists the position");
  await page.screenshot({ path: `${ARTIFACTS}/m05-portfolio-${page.viewportSize().width}.png`, fullPage: true });
  // Close prefills the ticket: sell every share
  await page.getByTestId(`close-${symbol}`).click();
  await page.waitForURL(`**/#/symbol/${symbol}?side=sell&qty=6`);
  await page.locator("[data-testid=ticket] input[name=qty]").waitFor({ state: "attached" });
  check((await page.locator("[data-testid=ticket] input[name=qty]").inputValue()) === "6", "quantity prefilled");
  check(await page.locator("[data-testid=ticket] input[name=side][value=sell]").isChecked(), "sell side prefilled");
}

export async function checkLeaderboard(page, user) {
  await page.goto(`${BASE}/#/leaderboard`);
  const mine = page.getByTestId("my-rank");
  await mine.waitFor();
  check((await mine.textContent()).includes(user), "your own row is highlighted");
  const names = await page.locator("[data-testid=leaderboard] tbody th").allTextContents();
  check(!names.some((n) => /^[0-9a-f]{8}$/.test(n)), `no raw ids as names (${names.filter((n) => /^[0-9a-f]{8}$/.test(n))})`);
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.locator("form.auth").waitFor();
  await page.goto(`${BASE}/#/leaderboard`);
  await page.getByTestId("leaderboard-invite").getByRole("link", { name: "Sign in" }).waitFor();
}

async function main() {
  mkdirSync(ARTIFACTS, { recursive: true });
  const problems = [];
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  // Some steps provoke refusals on purpose (a weak password, a wrong one, an unknown symbol):
  // the browser logs those responses, and only there are they expected.
  const state = { expectRefusals: false };
  page.on("console", (msg) => {
    const refusal = /^Failed to load resource: the server responded with a status of 4\d\d/.test(msg.text());
    // A system without the market clock (its own branch) answers GET /clock with 404.
    const noClock = /status of 404/.test(msg.text()) && new URL(msg.location().url, BASE).pathname === "/clock";
    if (msg.type() === "error" && !(refusal && state.expectRefusals) && !noClock) problems.push(`console error: ${msg.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  const user = `mkt_${Date.now().toString(36)}`;
  const refusing = (run) => async () => {
    state.expectRefusals = true;
    try {
      await run();
    } finally {
      state.expectRefusals = false;
    }
  };
  const steps = [
    ["sign-up: intro, live password rules, weak_password", refusing(() => checkSignUp(page, user)), "m01-sign-up"],
    ["sign-in by user name", refusing(() => checkSignInByUsername(page, user)), null],
    ["market watch: sort, search, watchlist, focus, reduced motion, row links", async () => (state.symbol = await checkMarketWatch(page)), null],
    ["symbol: header, title, OHLC, spread, house, depth, tape, order lines, fill markers", () => checkSymbolScreen(page, state.symbol), "m03-symbol"],
    ["unknown symbol", refusing(() => checkUnknownSymbol(page)), "m04-unknown"],
    ["portfolio: P&L %, today, cost basis, equity curve, allocation, Close", () => checkPortfolio(page, state.symbol), "m05-prefilled-ticket"],
    ["phone 390x844: market watch", async () => (await page.setViewportSize({ width: 390, height: 844 }), await checkMarketWatch(page)), null],
    ["phone 390x844: portfolio, Close reachable", async () => {
      await checkPortfolio(page, state.symbol);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      check(overflow <= 0, `no horizontal scrolling at 390 px (${overflow} px)`);
      await page.setViewportSize({ width: 1366, height: 900 });
    }, "m05-phone-prefilled-ticket"],
    ["leaderboard: you highlighted, names, sign-in link", () => checkLeaderboard(page, user), "m06-leaderboard"],
  ];
  let failed = null;
  for (const [name, run, shot] of steps) {
    const started = Date.now();
    process.stdout.write(`- ${name} ... `);
    try {
      await run();
      if (shot) await page.screenshot({ path: `${ARTIFACTS}/${shot}.png`, fullPage: true });
      console.log(`ok (${Date.now() - started} ms)`);
    } catch (error) {
      console.log("FAILED");
      failed = error;
      await page.screenshot({ path: `${ARTIFACTS}/market-failure.png`, fullPage: true }).catch(() => undefined);
      break;
    }
  }
  await browser.close();
  writeFileSync(`${ARTIFACTS}/market-problems.json`, JSON.stringify(problems, null, 2));
  if (problems.length) console.error(`problems:\n  ${problems.join("\n  ")}`);
  if (failed) console.error(failed);
  if (failed || problems.length) process.exit(1);
  console.log(`market e2e passed: ${steps.length} steps; screenshots in ${ARTIFACTS}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();

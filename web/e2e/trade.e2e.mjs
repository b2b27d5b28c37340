// End-to-end: a real headless Chromium (Debian's, driven by playwright-core) against a running
// system (`make run`; see run.sh). Fails on any console error, page error or outside request.
// Saves a screenshot of each screen and a metrics file to ARTIFACTS.
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { chromium } from "playwright-core";

const BASE = process.env.STOCKSIM_URL ?? "http://127.0.0.1:8002";
const ARTIFACTS = resolve(process.env.ARTIFACTS ?? "../test-artifacts/e2e");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const TIMEOUT = 20_000;
mkdirSync(ARTIFACTS, { recursive: true });

const problems = [];
const steps = [];
const origin = new URL(BASE).origin;

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}
const cents = (text) => BigInt(text.replace(/[,\s]/g, "").replace(".", ""));

async function step(name, fn) {
  const started = Date.now();
  process.stdout.write(`- ${name} ... `);
  await fn();
  steps.push({ name, ms: Date.now() - started });
  console.log(`ok (${Date.now() - started} ms)`);
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  // Playwright gives every launch a fresh, empty profile directory.
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
const page = await context.newPage();
page.setDefaultTimeout(TIMEOUT);
page.on("console", (msg) => {
  if (msg.type() === "error") problems.push(`console error: ${msg.text()}`);
});
page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
page.on("request", (request) => {
  const url = request.url();
  if (!url.startsWith(origin) && !url.startsWith(origin.replace("http", "ws")) && !url.startsWith("data:")) {
    problems.push(`outside request: ${url}`);
  }
});
page.on("requestfailed", (request) => problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`));
const shot = (name) => page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });

const user = `e2e_${Date.now().toString(36)}`;
const metrics = {};
let failed = null;
try {
  await step("load the page (time to interactive, transferred size)", async () => {
    const started = Date.now();
    await page.goto(BASE, { waitUntil: "load" });
    await page.waitForSelector("body[data-ready=true]");
    const wall = Date.now() - started;
    const timing = await page.evaluate(() => {
      const nav = performance.getEntriesByType("navigation")[0];
      const resources = performance.getEntriesByType("resource");
      return {
        domInteractive: nav.domInteractive,
        domContentLoaded: nav.domContentLoadedEventEnd,
        load: nav.loadEventEnd,
        readyAt: performance.now(),
        transferred: nav.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0),
        decoded: nav.decodedBodySize + resources.reduce((sum, r) => sum + r.decodedBodySize, 0),
        requests: 1 + resources.length,
      };
    });
    Object.assign(metrics, { wallUntilReadyMs: wall, ...timing });
    await page.locator("form.auth").waitFor();
    // keyboard: focus starts in the form, and Tab moves through its fields in order
    check(await page.evaluate(() => document.activeElement?.getAttribute("name") === "email"), "focus on the first field");
    await page.keyboard.press("Tab");
    check(await page.evaluate(() => document.activeElement?.getAttribute("name") === "password"), "Tab reaches the password");
    await shot("01-sign-in");
  });

  await step("client-side validation, then sign up", async () => {
    await page.getByRole("button", { name: "New here? Create an account" }).click();
    await page.getByLabel("User name").fill(user);
    await page.getByLabel("Email").fill(`${user}@example.com`);
    await page.getByLabel("Password").fill("short");
    await page.getByRole("button", { name: "Sign up" }).click();
    await page.getByTestId("auth-error").filter({ hasText: "Password" }).waitFor();
    await page.getByLabel("Password").fill("correct horse battery");
    await page.getByLabel("Password").press("Enter"); // keyboard submit
    await page.getByTestId("username").filter({ hasText: user }).waitFor();
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === "stocksim_session");
    check(session?.httpOnly && session.sameSite === "Strict", "session cookie is HttpOnly + SameSite=Strict");
    check(!(await page.evaluate(() => document.cookie.includes("stocksim_session"))), "token invisible to scripts");
    await page.evaluate(() => (window.__sameDocument = true));
  });

  let symbol;
  await step("market watch: every symbol, prices move", async () => {
    const rows = page.locator("[data-testid=market-watch] tbody tr[data-symbol]");
    await rows.first().waitFor();
    check((await rows.count()) >= 5, "several symbols listed");
    symbol = await rows.first().getAttribute("data-symbol");
    const cell = page.getByTestId(`price-${symbol}`);
    const snapshot = async () =>
      page.locator("[data-testid=market-watch] td.price").allTextContents();
    const before = await snapshot();
    await page.waitForFunction(
      (old) => [...document.querySelectorAll("[data-testid=market-watch] td.price")].some((td, i) => td.textContent !== old[i]),
      before,
    );
    check((await cell.textContent()) !== "—", "a price is shown");
    await shot("02-markets");
  });

  await step(`symbol screen: chart, book, tape, ticket`, async () => {
    await page.getByRole("link", { name: symbol, exact: true }).click();
    await page.locator("[data-testid=chart] canvas").first().waitFor();
    await page.locator("[data-testid=order-book] .level.bid").first().waitFor();
    await page.getByTestId("last-price").filter({ hasNotText: "—" }).waitFor();
    await page.getByTestId("ticket-buying-power").filter({ hasText: "100,000.00" }).waitFor();
    await page.getByRole("button", { name: "5m", exact: true }).click();
    await page.waitForSelector("button[data-interval='5m'][aria-pressed=true]");
    await page.getByRole("button", { name: "1m", exact: true }).click();
    await shot("03-symbol");
  });

  await step("ticket rejects bad input before sending", async () => {
    await page.getByLabel("Quantity").fill("0");
    await page.getByRole("button", { name: `Buy ${symbol}` }).click();
    await page.getByTestId("ticket-error").filter({ hasText: "whole number" }).waitFor();
    await page.getByLabel("Quantity").fill("100000");
    await page.getByRole("button", { name: `Buy ${symbol}` }).click();
    await page.getByTestId("ticket-error").filter({ hasText: "exceeds your buying power" }).waitFor();
  });

  await step("market buy: position and cash change without reload", async () => {
    await page.getByLabel("Quantity").fill("10");
    const estimate = await page.getByTestId("est-cost").textContent();
    check(estimate !== "—", "estimated cost shown");
    await page.getByRole("button", { name: `Buy ${symbol}` }).click();
    await page.getByTestId("ticket-buying-power").filter({ hasNotText: "100,000.00" }).waitFor();
    await page.getByRole("link", { name: "Portfolio" }).click();
    await page.getByTestId(`qty-${symbol}`).filter({ hasText: "10" }).waitFor();
    const cash = await page.getByTestId("cash").textContent();
    check(cents(cash) < cents("100000.00"), `cash went down (${cash})`);
    check(await page.evaluate(() => window.__sameDocument === true), "no reload happened");
    await shot("04-portfolio");
  });

  let orderId;
  await step("resting limit order, then cancel it", async () => {
    await page.getByRole("link", { name: symbol, exact: true }).click();
    const last = await page.getByTestId("last-price").filter({ hasNotText: "—" }).textContent();
    const limit = ((cents(last) * 80n) / 100n).toString();
    await page.getByLabel("Type").selectOption("limit");
    await page.getByLabel("Time in force").selectOption("gtc");
    await page.getByLabel("Quantity").fill("2");
    await page.getByLabel("Limit price").fill(`${limit.slice(0, -2)}.${limit.slice(-2)}`);
    await page.getByRole("button", { name: `Buy ${symbol}` }).click();
    await page.locator("#status").filter({ hasText: "new" }).waitFor();
    await page.getByRole("link", { name: "Orders" }).click();
    const row = page.locator("[data-testid=open-orders] tr[data-order-id]").first();
    await row.waitFor();
    orderId = await row.getAttribute("data-order-id");
    await shot("05-orders");
    await row.getByRole("button", { name: "Cancel" }).click();
    await page.locator(`[data-testid=open-orders] tr[data-order-id="${orderId}"]`).waitFor({ state: "detached" });
    await page.locator(`[data-testid=order-history] tr[data-order-id="${orderId}"]`).filter({ hasText: "canceled" }).waitFor();
    await page.locator(`[data-testid=order-history] tr`).filter({ hasText: "filled" }).first().waitFor();
  });

  await step("leaderboard lists the new user", async () => {
    await page.getByRole("link", { name: "Leaderboard" }).click();
    await page.locator("[data-testid=leaderboard] tr").filter({ hasText: user }).waitFor();
    await shot("06-leaderboard");
  });

  await step("phone width", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole("link", { name: "Markets" }).click();
    await page.locator("[data-testid=market-watch] tbody tr[data-symbol]").first().waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 0, `no horizontal scrolling at 390 px (overflow ${overflow} px)`);
    await shot("07-phone-markets");
    await page.getByRole("link", { name: symbol, exact: true }).click();
    await page.locator("[data-testid=chart] canvas").first().waitFor();
    await shot("08-phone-symbol");
    await page.setViewportSize({ width: 1366, height: 900 });
  });

  await step("sign out", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.locator("form.auth").waitFor();
    check(!(await context.cookies()).some((c) => c.name === "stocksim_session"), "cookie cleared");
  });
} catch (error) {
  failed = error;
  await shot("failure").catch(() => undefined);
}
await browser.close();

writeFileSync(`${ARTIFACTS}/metrics.json`, JSON.stringify({ metrics, steps, problems }, null, 2));
console.log("page metrics:", JSON.stringify(metrics));
if (problems.length) console.error(`problems:\n  ${problems.join("\n  ")}`);
if (failed) console.error(failed);
if (failed || problems.length) process.exit(1);
console.log(`e2e passed: ${steps.length} steps; screenshots in ${ARTIFACTS}`);

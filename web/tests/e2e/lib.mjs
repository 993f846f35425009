// Shared pieces of the browser scenarios: Debian's Chromium through playwright-core (no browser
// download), a phone-sized page, and waits on what the app shows.

import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import path from "node:path";

export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-dev-shm-usage",
];

export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
}

/** A phone-sized browser context: one "device". */
export async function device(browser) {
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 1,
    hasTouch: true,
    isMobile: false,
  });
  context.setDefaultTimeout(15_000);
  return context;
}

/** Every console line of every page, printed when a scenario fails. */
export const consoleLog = [];

export function watchErrors(page, errors) {
  page.on("pageerror", (error) => errors.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    consoleLog.push(`${message.type()}: ${message.text()}`);
    if (message.type() === "error" && !/favicon|ERR_INTERNET_DISCONNECTED|Failed to load resource/.test(message.text())) {
      errors.push(`console: ${message.text()}`);
    }
  });
}

/** Opens the app signed in with a token, the way the address `make run` prints does. */
export async function signInByLink(page, appUrl, token) {
  await page.goto(`${appUrl}#token=${token}`);
  await page.getByRole("navigation", { name: "Main" }).waitFor();
}

export async function waitPending(page, count, timeout = 20_000) {
  await page.waitForFunction(
    (n) => document.querySelector("[data-testid=pending-count]")?.getAttribute("data-count") === String(n),
    count,
    { timeout },
  );
}

export async function pendingCount(page) {
  return Number(await page.locator("[data-testid=pending-count]").getAttribute("data-count"));
}

/** Waits until the service worker controls the page, so a reload works without a connection. */
export async function waitOfflineShell(page) {
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {
      await new Promise((resolve) => navigator.serviceWorker.addEventListener("controllerchange", resolve, { once: true }));
    }
  });
}

export async function openProgram(page, appUrl, programId) {
  await page.goto(`${appUrl}#/program/${programId}`);
  await page.locator("section.week").first().waitFor();
}

/** Logs every set of a session as planned and completes it (the Train screen). */
export async function completeSession(page, appUrl, programId, week, day) {
  await page.goto(`${appUrl}#/train/${programId}/${week}/${day}`);
  await page.getByRole("heading", { name: `Week ${week}, day ${day}` }).waitFor();
  await page.getByRole("button", { name: "All as planned" }).click();
  await page.getByRole("button", { name: /Complete session/ }).click();
  await page.getByRole("form", { name: "Session feedback" }).waitFor();
}

export async function screenshot(page, dir, name) {
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });
}

export function result(value) {
  // One line the pytest side parses.
  process.stdout.write(`RESULT ${JSON.stringify(value)}\n`);
}

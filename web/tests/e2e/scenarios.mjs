// Browser scenarios against the real services behind the real Envoy. Run by
// tests/web/test_browser.py: `node tests/e2e/scenarios.mjs <name>` with a JSON description of the
// stack in IRONPATH_E2E (app address, tokens, program ids). Each prints `RESULT {...}` for the
// pytest side, which also checks the server directly over gRPC.

import readline from "node:readline";
import {
  consoleLog,
  completeSession,
  device,
  launch,
  openProgram,
  pendingCount,
  result,
  screenshot,
  signInByLink,
  waitOfflineShell,
  waitPending,
  watchErrors,
} from "./lib.mjs";

const input = JSON.parse(process.env.IRONPATH_E2E || "{}");

/** Tells the pytest side to act (`PAUSE <what>`) and waits for its answer line on stdin. */
async function pause(what) {
  process.stdout.write(`PAUSE ${what}\n`);
  const lines = readline.createInterface({ input: process.stdin });
  try {
    for await (const line of lines) if (line.trim()) return line.trim();
  } finally {
    lines.close();
    process.stdin.destroy();
  }
  throw new Error(`no answer to PAUSE ${what}`);
}
const { appUrl, shots } = input;

async function renderTimes(browser, token, programId) {
  // Cold: a new device (no cache, no service worker) opens the program's address.
  const context = await device(browser);
  await context.addInitScript((t) => localStorage.setItem("ironpath.token", t), token);
  const page = await context.newPage();
  await page.goto(`${appUrl}#/program/${programId}`);
  const mark = () =>
    page.waitForFunction(() => performance.getEntriesByName("ironpath:program-rendered")[0]?.startTime, null, { timeout: 15_000 });
  const cold = await (await mark()).jsonValue();
  await waitOfflineShell(page);
  // Warm: the same device again (service worker shell, IndexedDB cache).
  await page.reload();
  const warm = await (await mark()).jsonValue();
  await context.close();
  return { coldMs: Math.round(cold), warmMs: Math.round(warm) };
}

const scenarios = {
  /** Sign in, profile, generate 5/3/1, readiness, complete with sets, feedback → adjustment, check in. */
  async journey(browser) {
    const errors = [];
    const context = await device(browser);
    const page = await context.newPage();
    watchErrors(page, errors);

    await page.goto(appUrl);
    await page.getByRole("heading", { name: "Sign in to IronPath" }).waitFor();
    await screenshot(page, shots, "01-sign-in");
    await page.getByLabel("Development token", { exact: true }).fill(input.token);
    await page.getByRole("button", { name: "Sign in with token" }).click();
    await page.getByRole("navigation", { name: "Main" }).waitFor();

    // Profile (every field by its label).
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Profile", exact: true }).click();
    await page.getByRole("form", { name: "Profile" }).waitFor();
    await page.getByRole("radio", { name: "kg" }).check();
    await page.getByLabel("Bodyweight (kg)", { exact: true }).fill("82.5");
    await page.getByLabel("Height (cm)", { exact: true }).fill("180");
    await page.getByLabel("Age (years)", { exact: true }).fill("31");
    await page.getByLabel("Experience", { exact: true }).selectOption({ label: "Intermediate" });
    await page.getByLabel("Years of training", { exact: true }).fill("3");
    await page.getByLabel("Squat", { exact: true }).fill("140");
    await page.getByLabel("Bench press", { exact: true }).fill("100");
    await page.getByLabel("Deadlift", { exact: true }).fill("180");
    await page.getByLabel("Overhead press", { exact: true }).fill("62.5");
    await page.locator(".max-row").filter({ hasText: "Squat" }).getByLabel("tested", { exact: true }).check();
    for (const item of ["Barbell", "Squat rack", "Bench", "Dumbbells"]) await page.getByLabel(item, { exact: true }).check();
    await page.getByLabel("Strength", { exact: true }).check();
    await page.getByRole("button", { name: "Save profile" }).click();
    await waitPending(page, 0);
    await page.reload();
    await page.getByLabel("Squat", { exact: true }).and(page.locator("[value='140']")).waitFor();
    await screenshot(page, shots, "02-profile");

    // Generate a 5/3/1 program.
    await page.goto(`${appUrl}#/generate`);
    const wendler = page.getByRole("radio", { name: /5\/3\/1/ });
    await wendler.check();
    await page.getByLabel("Goal", { exact: true }).selectOption({ label: "Strength" });
    await page.getByLabel("Weeks", { exact: true }).fill("4");
    await page.getByLabel("Days per week", { exact: true }).fill("4");
    await page.getByLabel("Squat", { exact: true }).check();
    await screenshot(page, shots, "03-generate");
    await page.getByRole("button", { name: "Generate program" }).click();
    await page.waitForURL(/#\/program\/[0-9a-f-]{36}$/, { timeout: 60_000 });
    const programId = /#\/program\/([0-9a-f-]{36})/.exec(page.url())[1];
    await page.locator("section.week").first().waitFor();
    const weekHeadings = await page.locator("section.week h2").allInnerTexts();
    const firstSets = await page.locator("details.session[open] ul.sets li").allInnerTexts();
    await screenshot(page, shots, "04-program");

    // Train: readiness, then every set as planned with one changed, then complete.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Train", exact: true }).click();
    await page.getByRole("heading", { name: "Week 1, day 1" }).waitFor();
    await page.getByText("How ready are you today?").click();
    await page.getByLabel("Sleep last night (hours)", { exact: true }).fill("6");
    await page.getByLabel(/^Stress/).fill("3");
    await page.getByRole("button", { name: "Check readiness" }).click();
    const readiness = await page.getByTestId("readiness-result").innerText();
    await page.getByRole("button", { name: "All as planned" }).click();
    const firstReps = page.locator(".set-row").first().getByLabel(/: reps$/);
    await firstReps.fill("7");
    await page.locator(".set-row").first().getByLabel(/: RPE$/).fill("7.5");
    await screenshot(page, shots, "05-train");
    const loggedSets = await page.locator(".set-row.done").count();
    await page.getByLabel("Session RPE (1–10, optional)", { exact: true }).fill("7");
    await page.getByRole("button", { name: /Complete session/ }).click();

    // Feedback, and the adjustment it causes.
    await page.getByRole("form", { name: "Session feedback" }).waitFor();
    await page.getByLabel("Too easy", { exact: true }).check();
    await page.getByLabel("Session RPE (1–10)", { exact: true }).fill("6");
    await page.getByLabel("Note (optional)", { exact: true }).fill("Moved well, could add weight.");
    await page.getByRole("button", { name: "Send feedback" }).click();
    const reason = await page.getByTestId("adjustment-reason").innerText({ timeout: 20_000 });
    await waitPending(page, 0);
    await screenshot(page, shots, "06-feedback");

    // Check in.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Progress", exact: true }).click();
    await page.getByRole("button", { name: "Check in now" }).click();
    const checkIn = await page.getByTestId("checkin-result").innerText({ timeout: 20_000 });
    await page.waitForFunction(() => !/Loading the trends/.test(document.body.innerText), null, { timeout: 15_000 });
    const completion = await page.getByTestId("completion").innerText();
    const analytics = (await page.getByTestId("analytics").count())
      ? "available"
      : (await page.getByTestId("analytics-unavailable").count())
        ? "unavailable"
        : "error";
    await screenshot(page, shots, "07-progress");

    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Settings", exact: true }).click();
    await page.getByRole("heading", { name: "Export your data" }).waitFor();
    await page.getByRole("button", { name: "Export as JSON" }).click();
    await page.getByTestId("export-status").filter({ hasText: /Ready|not available|failed/ }).waitFor({ timeout: 20_000 });
    const exportStatus = await page.getByTestId("export-status").innerText();
    await screenshot(page, shots, "08-settings");

    const render = await renderTimes(browser, input.token, programId);
    await context.close();
    return { programId, weekHeadings, firstSets, readiness, loggedSets, reason, checkIn, completion, analytics, exportStatus, render, errors };
  },

  /** Offline: three completions, a reload, back online → each lands once. */
  async offline(browser) {
    const errors = [];
    const context = await device(browser);
    const page = await context.newPage();
    watchErrors(page, errors);
    await signInByLink(page, appUrl, input.token);
    await openProgram(page, appUrl, input.programId);
    await waitOfflineShell(page);
    await context.setOffline(true);
    for (const day of [1, 2, 3]) await completeSession(page, appUrl, input.programId, 1, day);
    const queuedBeforeReload = await pendingCount(page);
    await page.reload();
    await page.getByRole("navigation", { name: "Main" }).waitFor();
    await openProgram(page, appUrl, input.programId);
    const queuedAfterReload = await pendingCount(page);
    const waitingBadges = await page.locator(".badge", { hasText: "waiting to sync" }).count();
    await screenshot(page, shots, "09-offline-waiting");
    const onlineAt = Date.now();
    await context.setOffline(false);
    await waitPending(page, 0, 30_000);
    await page.locator("details[data-session='1/3'] .badge.ok", { hasText: /^Completed$/ }).waitFor();
    await context.close();
    return { queuedBeforeReload, queuedAfterReload, waitingBadges, onlineAt, errors };
  },

  /** Two devices of one lifter: a completion on one shows on the other within a second. */
  async twoDevices(browser) {
    const errors = [];
    const [a, b] = [await device(browser), await device(browser)];
    const pageA = await a.newPage();
    const pageB = await b.newPage();
    watchErrors(pageA, errors);
    watchErrors(pageB, errors);
    await signInByLink(pageA, appUrl, input.token);
    await signInByLink(pageB, appUrl, input.token);
    await openProgram(pageB, appUrl, input.programId);
    await pageB.locator(".live").waitFor();
    await pageA.goto(`${appUrl}#/train/${input.programId}/1/1`);
    await pageA.getByRole("button", { name: "All as planned" }).click();
    await pageB.evaluate(() => {
      window.__seenAt = 0;
      const seen = () => document.querySelector("details[data-session='1/1'] .badge.ok");
      new MutationObserver(() => {
        if (!window.__seenAt && seen()) window.__seenAt = Date.now();
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    const button = pageA.getByRole("button", { name: /Complete session/ });
    await button.waitFor();
    const clickedAt = await button.evaluate((el) => {
      const t = Date.now();
      el.click();
      return t;
    });
    await pageB.waitForFunction(() => window.__seenAt > 0, null, { timeout: 10_000 });
    const seenAt = await pageB.evaluate(() => window.__seenAt);
    // Device A's own screen, for comparison: optimistic, at once.
    await pageA.getByRole("form", { name: "Session feedback" }).waitFor();
    await screenshot(pageB, shots, "10-second-device");
    await a.close();
    await b.close();
    return { latencyMs: seenAt - clickedAt, errors };
  },

  /** Storage cleared after sync: signing in again shows every completion. */
  async storageCleared(browser) {
    const errors = [];
    const context = await device(browser);
    const page = await context.newPage();
    watchErrors(page, errors);
    await signInByLink(page, appUrl, input.token);
    await openProgram(page, appUrl, input.programId);
    for (const day of [1, 2]) await completeSession(page, appUrl, input.programId, 1, day);
    await waitPending(page, 0);
    const cdp = await context.newCDPSession(page);
    await cdp.send("Storage.clearDataForOrigin", { origin: new URL(appUrl).origin, storageTypes: "all" });
    await page.goto(appUrl);
    await page.reload();
    await page.getByRole("heading", { name: "Sign in to IronPath" }).waitFor();
    const storedAfterClear = await page.evaluate(() => Object.keys(localStorage).length);
    await page.getByLabel("Development token", { exact: true }).fill(input.token);
    await page.getByRole("button", { name: "Sign in with token" }).click();
    await openProgram(page, appUrl, input.programId);
    await page.locator("details[data-session='1/2'] .badge.ok").waitFor();
    const completed = await page.locator("details.session .badge.ok").count();
    await page.goto(`${appUrl}#/train/${input.programId}/1/1`);
    const lifted = await page.locator("section.panel", { hasText: "What you lifted" }).locator("li").count();
    await context.close();
    return { storedAfterClear, completed, lifted, errors };
  },

  /** Another lifter's program id in the address: "not found", nothing of theirs. */
  async notFound(browser) {
    const errors = [];
    const context = await device(browser);
    const page = await context.newPage();
    watchErrors(page, errors);
    await signInByLink(page, appUrl, input.token);
    const seen = {};
    for (const screen of ["program", "train", "progress"]) {
      await page.goto(`${appUrl}#/${screen}/${input.otherProgramId}`);
      await page.getByTestId("not-found").waitFor();
      seen[screen] = {
        heading: await page.getByRole("heading", { level: 1 }).innerText(),
        text: await page.locator("body").innerText(),
        exercises: await page.locator("ol.exercises li, .set-row").count(),
      };
    }
    await screenshot(page, shots, "11-not-found");
    await context.close();
    return { seen, errors };
  },

  /** A refused token returns the lifter to sign-in; queued work waits and is sent after. */
  async tokenRejected(browser) {
    const errors = [];
    const context = await device(browser);
    const page = await context.newPage();
    watchErrors(page, errors);
    await signInByLink(page, appUrl, input.token);
    await openProgram(page, appUrl, input.programId);
    await waitOfflineShell(page);
    await context.setOffline(true);
    await completeSession(page, appUrl, input.programId, 1, 1);
    // The stored sign-in goes bad (revoked, re-keyed) while the lifter is offline.
    await page.evaluate((t) => localStorage.setItem("ironpath.token", t), input.badToken);
    await page.reload();
    await openProgram(page, appUrl, input.programId);
    const queued = await pendingCount(page);
    await context.setOffline(false);
    await page.getByTestId("signin-again").waitFor({ timeout: 20_000 });
    const message = await page.getByTestId("signin-again").innerText();
    await screenshot(page, shots, "12-sign-in-again");
    await page.getByLabel("Development token", { exact: true }).fill(input.token);
    await page.getByRole("button", { name: "Sign in with token" }).click();
    await page.getByRole("navigation", { name: "Main" }).waitFor();
    await waitPending(page, 0, 20_000);
    await context.close();
    return { queued, message, errors };
  },

  /** The old app's progress in local storage: offered once, imported, what was taken shown. */
  async legacyImport(browser) {
    const errors = [];
    const context = await device(browser);
    await context.addInitScript((state) => localStorage.setItem("ironpath-storage", state), input.legacyState);
    const page = await context.newPage();
    watchErrors(page, errors);
    await signInByLink(page, appUrl, input.token);
    const offer = page.getByTestId("legacy-offer");
    await offer.waitFor();
    const offered = await offer.innerText();
    await screenshot(page, shots, "14-legacy-offer");
    await offer.getByRole("button", { name: "Import" }).click();
    const report = await page.getByTestId("import-result").innerText({ timeout: 20_000 });
    await screenshot(page, shots, "15-legacy-imported");
    await page.reload();
    await page.getByRole("navigation", { name: "Main" }).waitFor();
    await openProgram(page, appUrl, input.programId);
    await page.locator("details[data-session='1/1'] .badge.ok").waitFor();
    const offeredAgain = await page.getByTestId("legacy-offer").count();
    await context.close();
    return { offered, report, offeredAgain, errors };
  },

  /** Settings: export, then delete the account; the lifter is signed out and told. */
  async deleteAccount(browser) {
    const errors = [];
    const context = await device(browser);
    const page = await context.newPage();
    watchErrors(page, errors);
    await signInByLink(page, appUrl, input.token);
    await openProgram(page, appUrl, input.programId);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Settings", exact: true }).click();
    const remove = page.getByRole("button", { name: "Delete my account" });
    const disabledBefore = await remove.isDisabled();
    await page.getByLabel("Type DELETE MY ACCOUNT to confirm", { exact: true }).fill("DELETE MY ACCOUNT");
    await remove.click();
    await page.getByText("Your account and everything in it were deleted.").waitFor({ timeout: 20_000 });
    const left = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("ironpath.")));
    await context.close();
    return { disabledBefore, left, errors };
  },

  /** The gateway restarts under an open WatchProgress: the stream comes back by itself. */
  async reconnect(browser) {
    const errors = [];
    const [a, b] = [await device(browser), await device(browser)];
    const pageA = await a.newPage();
    const pageB = await b.newPage();
    watchErrors(pageA, errors);
    await signInByLink(pageA, appUrl, input.token);
    await signInByLink(pageB, appUrl, input.token);
    await openProgram(pageB, appUrl, input.programId);
    await pageB.locator(".live").waitFor();
    await pageB.evaluate(() => {
      // When the live indicator goes and comes back.
      window.__live = [];
      let live = true;
      new MutationObserver(() => {
        const now = Boolean(document.querySelector(".live"));
        if (now !== live) window.__live.push([now ? "up" : "down", Date.now()]);
        live = now;
      }).observe(document.body, { subtree: true, childList: true });
    });
    // The pytest side restarts Envoy now, then answers on stdin.
    await pause("restart-envoy");
    await pageB.waitForFunction(() => window.__live.some(([s]) => s === "up"), null, { timeout: 20_000 });
    const transitions = await pageB.evaluate(() => window.__live);
    const down = transitions.find(([s]) => s === "down");
    const up = transitions.find(([s]) => s === "up");
    const reconnectedAfterMs = down && up ? up[1] - down[1] : -1;
    await completeSession(pageA, appUrl, input.programId, 1, 1);
    await pageB.locator("details[data-session='1/1'] .badge.ok", { hasText: /^Completed$/ }).waitFor({ timeout: 5_000 });
    await a.close();
    await b.close();
    return { transitions: transitions.map(([state]) => state), reconnectedAfterMs, errors };
  },

  /** The profile changed on another device: both versions shown, the lifter chooses. */
  async profileConflict(browser) {
    const errors = [];
    const [a, b] = [await device(browser), await device(browser)];
    const pageA = await a.newPage();
    const pageB = await b.newPage();
    watchErrors(pageA, errors);
    watchErrors(pageB, errors);
    for (const page of [pageA, pageB]) {
      await signInByLink(page, appUrl, input.token);
      await page.goto(`${appUrl}#/profile`);
      await page.getByLabel("Bodyweight (kg)", { exact: true }).and(page.locator("[value='80']")).waitFor();
    }
    await pageA.getByLabel("Bodyweight (kg)", { exact: true }).fill("81");
    await pageA.getByRole("button", { name: "Save profile" }).click();
    await waitPending(pageA, 0);
    await pageB.getByLabel("Bodyweight (kg)", { exact: true }).fill("79");
    await pageB.getByRole("button", { name: "Save profile" }).click();
    const conflict = pageB.getByRole("alert").filter({ hasText: "changed on another device" });
    await conflict.waitFor();
    const shown = await conflict.innerText();
    await screenshot(pageB, shots, "13-profile-conflict");
    await pageB.getByRole("button", { name: "Keep this device's version" }).click();
    await waitPending(pageB, 0);
    await pageB.locator(".conflict").waitFor({ state: "detached" });
    await a.close();
    await b.close();
    return { shown, errors };
  },
};

const name = process.argv[2];
if (!scenarios[name]) {
  console.error(`unknown scenario ${name}; one of ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}
const browser = await launch();
try {
  result(await scenarios[name](browser));
} catch (error) {
  console.error(error);
  process.exitCode = 1;
  // What each page showed when it failed, for the person reading the test output.
  console.error(`--- console\n${consoleLog.slice(-40).join("\n")}`);
  let n = 0;
  for (const context of browser.contexts()) {
    for (const page of context.pages()) {
      n += 1;
      const text = await page.locator("body").innerText().catch(() => "");
      console.error(`--- page ${n} ${page.url()}\n${text.slice(0, 3000)}`);
      if (input.failureShots) await page.screenshot({ path: `${input.failureShots}/failure-${name}-${n}.png`, fullPage: true }).catch(() => {});
    }
  }
} finally {
  await browser.close();
}
// Nothing else may keep Node alive once the scenario is over.
process.exit(process.exitCode ?? 0);

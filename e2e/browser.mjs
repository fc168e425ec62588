// Launching Debian's Chromium headless with Playwright, and helpers the tests share.
import { chromium } from 'playwright-core';
import { before, after } from 'node:test';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from './server.mjs';

export const SHOTS = join(process.cwd(), 'target', 'e2e');

const FLAGS = [
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// Opens a fresh browser profile; `webgpu` adds the flag that exposes SwiftShader's adapter.
export async function launch({ webgpu = false, viewport = { width: 1280, height: 900 } } = {}) {
  await mkdir(SHOTS, { recursive: true });
  const profile = await mkdtemp(join(tmpdir(), 'dimple-e2e-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: webgpu ? [...FLAGS, '--enable-unsafe-webgpu'] : FLAGS,
    viewport,
    deviceScaleFactor: 2,
  });
  // Record every main-thread task over 50 ms, from the first script on.
  await context.addInitScript(() => {
    window.__longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__longTasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  });
  return context;
}

// A page whose console errors and uncaught exceptions are collected in `page.errors`.
export async function openPage(context, url) {
  const page = context.pages()[0] ?? (await context.newPage());
  page.errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') page.errors.push(m.text());
  });
  page.on('pageerror', (e) => page.errors.push(String(e)));
  await page.goto(url);
  return page;
}

export const byTestId = (page, id) => page.locator(`[data-testid="${id}"]`);

// Waits until the Train button is enabled (backend chosen, data loaded).
export async function waitReady(page, timeout = 120_000) {
  await page.waitForSelector('[data-testid="train-start"]:not([disabled])', { timeout });
}

export async function longTasksSince(page, since) {
  return page.evaluate((t) => window.__longTasks.filter((e) => e.start >= t), since);
}

// Serves the built page (DIST, else dist/) to the tests of one file. Once it has started the
// returned object has the server's `url` and `requests`; `report` collects the file's figures,
// written to target/e2e/`file` at the end (when a file is named) and printed as
// "`label` report: …".
export function servePage(file, label) {
  const site = { report: {} };
  before(async () => {
    Object.assign(site, await serve(process.env.DIST ?? join(process.cwd(), 'dist')));
  });
  after(async () => {
    await site.close();
    if (!file) return;
    await writeFile(join(SHOTS, file), JSON.stringify(site.report, null, 2));
    console.log(`${label} report:`, JSON.stringify(site.report));
  });
  return site;
}

// The run id of the attack results shown, or null before any.
export const attackRun = (page) =>
  page.evaluate(() => document.querySelector('[data-testid="attack-results"]')?.dataset.run ?? null);

// Waits until attack results other than run `previous` are shown and nothing computes;
// resolves to their run id.
export async function waitAttack(page, previous, timeout = 180_000) {
  const handle = await page.waitForFunction(
    (prev) => {
      const r = document.querySelector('[data-testid="attack-results"]');
      const status = document.querySelector('[data-testid="attack-status"]');
      return r && r.dataset.run !== prev && status.dataset.busy === 'false' && r.dataset.run;
    },
    previous,
    { timeout },
  );
  return handle.jsonValue();
}

// Presses "Run attack" and waits for its results to replace the previous ones; resolves to
// their run id.
export async function runAttack(page, timeout = 180_000) {
  const previous = await attackRun(page);
  await byTestId(page, 'attack-run').click();
  return waitAttack(page, previous, timeout);
}

// A plain L2 attack within `eps`, and restricted attacks searching up to L2 `search`.
export async function l2Attack(page, { eps = '2', step = '0.05', steps = '200', search = '6' } = {}) {
  await byTestId(page, 'attack-norm').selectOption('l2');
  await byTestId(page, 'attack-eps').fill(eps);
  await byTestId(page, 'attack-step').fill(step);
  await byTestId(page, 'attack-steps').fill(steps);
  await byTestId(page, 'attack-search').fill(search);
}

// Up to `count` gallery digits the classifier gets right: their positions in the gallery.
export async function correctDigits(page, count = 5) {
  const items = await byTestId(page, 'gallery-item').evaluateAll((els) =>
    els.map((e, i) => ({ i, label: e.dataset.label, prediction: e.dataset.prediction })),
  );
  return items.filter((d) => d.label === d.prediction).slice(0, count);
}

// Trains the classifier for `epochs` epochs, then the autoencoder for `aeEpochs`, with the
// panels' other settings, each to the end.
export async function trainModels(page, { epochs = 1, aeEpochs = 1 } = {}, timeout = 600_000) {
  await byTestId(page, 'epochs').fill(String(epochs));
  await byTestId(page, 'train-start').click();
  await page.waitForSelector('[data-testid="train-state"][data-state="finished"]', { timeout });
  await byTestId(page, 'ae-epochs').fill(String(aeEpochs));
  await byTestId(page, 'ae-train-start').click();
  await page.waitForSelector('[data-testid="ae-state"][data-state="finished"]', { timeout });
}

// Chooses dataset `id` and waits until it is loaded and its description matches `described`.
export async function chooseDataset(page, id, described) {
  await byTestId(page, 'dataset-select').selectOption(id);
  await page.waitForFunction(
    (re) => new RegExp(re).test(document.querySelector('[data-testid="dataset-info"]').textContent),
    described.source,
    { timeout: 60_000 },
  );
  await waitReady(page);
}

// Spread of the red channel over the canvas `selector` (0 for a blank one), its backing-store
// width and its CSS width.
export const canvasSpread = (page, selector) =>
  page.evaluate((selector) => {
    const c = document.querySelector(selector);
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let lo = 255;
    let hi = 0;
    for (let i = 0; i < data.length; i += 4) {
      lo = Math.min(lo, data[i]);
      hi = Math.max(hi, data[i]);
    }
    return { spread: hi - lo, width: c.width, cssWidth: c.clientWidth };
  }, selector);

// Draws a vertical stroke (a 1) on the attack panel's drawing pad and waits until the drawing
// is the chosen image.
export async function drawOne(page) {
  const pad = page.locator('[data-testid="draw-pad"]');
  await pad.scrollIntoViewIfNeeded();
  const box = await pad.boundingBox();
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.8, { steps: 8 });
  await page.mouse.up();
  await page.waitForFunction(() => /drawing/.test(document.querySelector('[data-testid="chosen-caption"]').textContent));
}

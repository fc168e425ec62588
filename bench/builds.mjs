// Compares builds of the page on the CPU (the build without WebGPU that a browser without a
// hardware adapter loads): page open to the first four views, the first attack (the one the
// page starts with: cold code), the same attack warm, and training speed. Each build is served
// from its own folder and the builds take turns, one run each a round, so that all see the
// same moments of a shared machine.
//
//   node bench/builds.mjs dist dist-publish           # the tested and the published page
//   ROUNDS=5 node bench/builds.mjs dist dist-publish  # more rounds (default 3)
//   JSFLAGS=--no-wasm-lazy-compilation node bench/builds.mjs dist   # with V8 flags
//
// A folder is a page as `trunk build` or `make dist` writes it; to try another compilation of
// the build without WebGPU, copy a page and replace the files of its without-webgpu-* folder
// with wasm-bindgen's output (module, glue and snippets: they go together).
import { chromium } from 'playwright-core';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { serve } from '../e2e/server.mjs';
import { launch, openPage, byTestId, waitReady } from '../e2e/browser.mjs';

const dirs = process.argv.slice(2).map((d) => resolve(d));
if (dirs.length === 0) {
  console.error('usage: node bench/builds.mjs DIR [DIR...]');
  process.exit(2);
}
const ROUNDS = Number(process.env.ROUNDS ?? 3);
// The reference workload (PERFORMANCE.md): batch 128 over 12,000 images.
const BATCH = 128;
const TRAIN_IMAGES = 12_000;
const STEPS_PER_EPOCH = Math.ceil(TRAIN_IMAGES / BATCH);
const examplesAfter = (done) =>
  Math.floor(done / STEPS_PER_EPOCH) * TRAIN_IMAGES + Math.min((done % STEPS_PER_EPOCH) * BATCH, TRAIN_IMAGES);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// The tests' browser, or the same with V8 flags.
async function browser() {
  if (!process.env.JSFLAGS) return launch();
  return chromium.launchPersistentContext(await mkdtemp(join(tmpdir(), 'dimple-builds-')), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--no-first-run', '--disable-background-networking', `--js-flags=${process.env.JSFLAGS}`],
    viewport: { width: 1280, height: 900 },
    deviceScaleFactor: 2,
  });
}

// Marks from the first script on: ready (Train enabled), the first four views on the screen
// and the page's own timings of the attack that put them there.
function marks() {
  window.__marks = {};
  new MutationObserver(() => {
    const m = window.__marks;
    if (m.ready === undefined && document.querySelector('[data-testid="train-start"]:not([disabled])')) m.ready = performance.now();
    if (m.views === undefined && document.querySelector('[data-testid="view-off-manifold"] canvas')) {
      m.views = performance.now();
      const d = document.querySelector('[data-testid="attack-results"]')?.dataset ?? {};
      m.first = { basis: Number(d.timingBasis), pgd: Number(d.timingPgd), total: Number(d.timingTotal) };
    }
  }).observe(document, { subtree: true, childList: true, attributes: true });
}

// The default attack three times on the warm page: the page's timings of the median run.
async function warmAttack(page) {
  await page.waitForSelector('[data-testid="attack-status"][data-busy="false"]', { timeout: 300_000 });
  await page.waitForSelector('[data-testid="slice-status"][data-busy="false"]', { timeout: 300_000 }).catch(() => {});
  const runs = [];
  for (let i = 0; i < 3; i++) {
    const before = await page.evaluate(() => document.querySelector('[data-testid="attack-results"]')?.dataset.run ?? null);
    await byTestId(page, 'attack-run').click();
    await page.waitForFunction(
      (prev) => {
        const r = document.querySelector('[data-testid="attack-results"]');
        return r && r.dataset.run !== prev && document.querySelector('[data-testid="attack-status"]').dataset.busy === 'false';
      },
      before,
      { timeout: 300_000 },
    );
    const d = await page.evaluate(() => ({ ...document.querySelector('[data-testid="attack-results"]').dataset }));
    runs.push({ basis: Number(d.timingBasis), pgd: Number(d.timingPgd), total: Number(d.timingTotal) });
  }
  return runs.sort((a, b) => a.total - b.total)[1];
}

// The reference workload, 1 warm-up and 2 timed epochs; examples/s in the timed steps (each
// with its loss readback), from the page's step count and speed at each redraw.
async function train(page) {
  await byTestId(page, 'model-select').selectOption('mlp');
  await byTestId(page, 'epochs').fill('3');
  await byTestId(page, 'batch-size').fill(String(BATCH));
  await byTestId(page, 'learning-rate').fill('0.001');
  await byTestId(page, 'lr-schedule').selectOption('constant');
  await byTestId(page, 'augment-shift').fill('0');
  await byTestId(page, 'ema-decay').fill('0');
  await page.evaluate(() => {
    window.__progress = [];
    new MutationObserver(() => {
      const step = document.querySelector('[data-testid="train-step"]');
      const speed = document.querySelector('[data-testid="train-speed"]');
      if (!step || !speed) return;
      const done = Number(step.dataset.done);
      if (window.__progress.at(-1)?.done !== done) window.__progress.push({ done, speed: Number(speed.dataset.value) });
    }).observe(document.body, { subtree: true, childList: true, attributes: true });
  });
  await byTestId(page, 'train-start').click();
  await page.waitForSelector('[data-testid="train-state"][data-state="finished"]', { timeout: 900_000 });
  const progress = await page.evaluate(() => window.__progress);
  const from = progress.find((p) => p.done === STEPS_PER_EPOCH);
  const to = progress.at(-1);
  const busy = (p) => examplesAfter(p.done) / p.speed;
  return (examplesAfter(to.done) - examplesAfter(from.done)) / (busy(to) - busy(from));
}

const servers = await Promise.all(dirs.map((d) => serve(d)));
const results = dirs.map(() => []);
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, dir] of dirs.entries()) {
      const context = await browser();
      await context.addInitScript(marks);
      try {
        const page = await openPage(context, servers[i].url);
        await waitReady(page);
        await page.waitForFunction(() => window.__marks.views !== undefined, null, { timeout: 300_000 });
        const m = await page.evaluate(() => window.__marks);
        const warm = await warmAttack(page);
        const examplesPerSecond = await train(page);
        const run = { open: m.views, ready: m.ready, first: m.first, warm, examplesPerSecond };
        results[i].push(run);
        console.log(`round ${round + 1}`, dir, JSON.stringify(run));
      } finally {
        await context.close();
      }
    }
  }
} finally {
  for (const s of servers) await s.close();
}

const ms = (x) => `${Math.round(x)} ms`;
console.log(`\nmedians of ${ROUNDS} rounds${process.env.JSFLAGS ? `, V8 flags ${process.env.JSFLAGS}` : ''}:`);
console.log('| build | page open to views | ready | first attack: basis / PGD / total | warm attack: basis / PGD / total | training |');
console.log('|---|---|---|---|---|---|');
for (const [i, dir] of dirs.entries()) {
  const r = results[i];
  const m = (f) => median(r.map(f));
  console.log(
    `| ${dir} | ${ms(m((x) => x.open))} | ${ms(m((x) => x.ready))} | ${m((x) => x.first.basis)} / ${m((x) => x.first.pgd)} / ${m((x) => x.first.total)} ms | ` +
      `${m((x) => x.warm.basis)} / ${m((x) => x.warm.pgd)} / ${m((x) => x.warm.total)} ms | ${Math.round(m((x) => x.examplesPerSecond)).toLocaleString('en-US')} examples/s |`,
  );
}

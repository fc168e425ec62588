// `make bench`: measures training speed natively and in headless Chromium (CPU, and WebGPU
// where the browser has an adapter), the attack view, page open to the first four views, the
// quality bar (10 epochs of each model) and the shipped sizes, each against its peer measured
// in the same run where there is one (TensorFlow.js in the same browser, JAX natively: see
// bench/README.md), and writes BENCHMARKS.md. Absolute times drift on shared machines: compare
// rows measured in the same run.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { serve } from './server.mjs';
import { launch, openPage, byTestId, waitReady } from './browser.mjs';
import { jaxTrain, tfjsTrain } from '../bench/peers.mjs';

// The page as published by `make dist` (measured when it is there).
const PUBLISHED = 'dist-publish';

const NATIVE = process.env.NATIVE ?? join(process.env.CARGO_TARGET_DIR ?? 'target', 'release', 'dimple');
// The reference workload (PERFORMANCE.md): 12,000 images, batch 128, so 94 steps an epoch.
const TRAIN_IMAGES = 12_000;
const BATCH = 128;
const STEPS_PER_EPOCH = Math.ceil(TRAIN_IMAGES / BATCH);
// Runs per figure (median); BENCH_RUNS=1 gives a quick, noisier pass.
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
// The emulated GPU is too slow for whole epochs: steps are counted over a window instead.
const GPU_WINDOW = { warmupMs: 30_000, windowMs: 30_000 };
const rows = [];
// Dimple against a peer measured in the same run.
const versus = [];
const log = (...a) => console.log('[bench]', ...a);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x) => Math.round(x).toLocaleString('en-US');

// One row of the comparison table. `higherIsBetter` says how to read the ratio.
function compare(what, dimple, peerName, peer, { unit, higherIsBetter, settings, format = round }) {
  const bad = [dimple, peer].find((v) => typeof v !== 'number' || !Number.isFinite(v));
  const ratio = bad === undefined ? dimple / peer : null;
  versus.push({
    what,
    dimple: typeof dimple === 'number' ? `${format(dimple)} ${unit}` : `not measured: ${dimple}`,
    peerName,
    peer: typeof peer === 'number' ? `${format(peer)} ${unit}` : `not measured: ${peer}`,
    ratio: ratio === null ? '–' : `${ratio.toFixed(2)}× ${ratio >= 1 === higherIsBetter ? '(Dimple ahead)' : '(Dimple behind)'}`,
    better: higherIsBetter ? 'higher' : 'lower',
    settings,
  });
}

function native(args) {
  return execFileSync(NATIVE, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
}

function nativeQuality(model) {
  const started = Date.now();
  const out = native(['train', '--model', model, '--epochs', '10']);
  const last = [...out.matchAll(/test acc ([\d.]+)%/g)].pop();
  return { accuracy: Number(last[1]), seconds: (Date.now() - started) / 1000 };
}

// Trains with the page's defaults except the settings given.
async function browserTrain(page, { model, epochs, batch, lr, plain = false }) {
  await byTestId(page, 'model-select').selectOption(model);
  await byTestId(page, 'epochs').fill(String(epochs));
  if (batch) await byTestId(page, 'batch-size').fill(batch);
  if (lr) await byTestId(page, 'learning-rate').fill(lr);
  if (plain) await setPlainRecipe(page);
  const t0 = Date.now();
  await byTestId(page, 'train-start').click();
  await page.waitForSelector('[data-testid="train-state"][data-state="finished"]', { timeout: 1_800_000 });
  return {
    seconds: (Date.now() - t0) / 1000,
    accuracy: Number(await byTestId(page, 'test-accuracy').getAttribute('data-value')),
    examplesPerSecond: Number(await byTestId(page, 'train-speed').getAttribute('data-value')),
  };
}

// The reference workload's recipe: constant rate, no augmentation, no weight averaging.
async function setPlainRecipe(page) {
  await byTestId(page, 'lr-schedule').selectOption('constant');
  await byTestId(page, 'augment-shift').fill('0');
  await byTestId(page, 'ema-decay').fill('0');
}

// Examples trained after `done` steps of the reference workload (the last batch of an epoch
// holds the remainder).
const examplesAfter = (done) =>
  Math.floor(done / STEPS_PER_EPOCH) * TRAIN_IMAGES + Math.min((done % STEPS_PER_EPOCH) * BATCH, TRAIN_IMAGES);

// The reference workload on the page (MLP, batch 128, Adam 1e-3, plain recipe), timed like
// the peers: only the steps after the warm-up count. The page shows the steps done and the
// speed over all steps so far (examples / time in steps, each step including its loss
// readback); a MutationObserver records both at every redraw, so the time in steps at any
// record is examples / speed, and the timed speed is the difference between two records.
// `plan` is { warmupEpochs, timedEpochs } or { warmupMs, windowMs }.
async function dimpleTrain(page, plan) {
  const epochs = plan.windowMs ? 50 : plan.warmupEpochs + plan.timedEpochs;
  await byTestId(page, 'model-select').selectOption('mlp');
  await byTestId(page, 'epochs').fill(String(epochs));
  await byTestId(page, 'batch-size').fill(String(BATCH));
  await byTestId(page, 'learning-rate').fill('0.001');
  await setPlainRecipe(page);
  const start = await page.evaluate(() => {
    window.__progress = [];
    const record = () => {
      const step = document.querySelector('[data-testid="train-step"]');
      const speed = document.querySelector('[data-testid="train-speed"]');
      if (!step || !speed) return;
      const done = Number(step.dataset.done);
      if (window.__progress.at(-1)?.done !== done) {
        window.__progress.push({ done, speed: Number(speed.dataset.value), t: performance.now() });
      }
    };
    window.__observer = new MutationObserver(record);
    window.__observer.observe(document.body, { subtree: true, childList: true, attributes: true });
    return performance.now();
  });
  const t0 = Date.now();
  await byTestId(page, 'train-start').click();
  if (plan.windowMs) {
    await page.waitForTimeout(plan.warmupMs + plan.windowMs);
    await byTestId(page, 'train-cancel').click();
  } else {
    await page.waitForSelector('[data-testid="train-state"][data-state="finished"]', { timeout: 1_800_000 });
  }
  const seconds = (Date.now() - t0) / 1000;
  const progress = await page.evaluate(() => {
    window.__observer.disconnect();
    return window.__progress;
  });
  const [from, to] = plan.windowMs
    ? [progress.find((p) => p.t >= start + plan.warmupMs), progress.filter((p) => p.t <= start + plan.warmupMs + plan.windowMs).at(-1)]
    : [progress.find((p) => p.done === plan.warmupEpochs * STEPS_PER_EPOCH), progress.at(-1)];
  if (!from || !to || to.done <= from.done) throw new Error(`too few steps recorded: ${JSON.stringify(progress.slice(-3))}`);
  const busy = (p) => examplesAfter(p.done) / p.speed;
  return {
    examplesPerSecond: (examplesAfter(to.done) - examplesAfter(from.done)) / (busy(to) - busy(from)),
    timedSteps: to.done - from.done,
    seconds,
    accuracy: plan.windowMs ? null : Number(await byTestId(page, 'test-accuracy').getAttribute('data-value')),
  };
}

// The reference workload `RUNS` times on fresh pages; the median speed and the last run.
async function dimpleReference(context, url) {
  const runs = [];
  for (let i = 0; i < RUNS; i++) {
    const page = await openPage(context, url);
    await waitReady(page);
    runs.push(await dimpleTrain(page, { warmupEpochs: 1, timedEpochs: 3 }));
  }
  return { median: median(runs.map((r) => r.examplesPerSecond)), runs };
}

// Time per toy epoch (one Adam step on the world, the phase numbers and the recorded view).
async function toyEpochMs(page, preset, epochs) {
  await byTestId(page, 'toy-world').selectOption(preset);
  await byTestId(page, 'toy-epochs').fill(String(epochs));
  await byTestId(page, 'toy-train-start').click();
  await page.waitForSelector('[data-testid="toy-state"][data-state="finished"]', { timeout: 600_000 });
  return Number(await byTestId(page, 'toy-state').getAttribute('data-epoch-ms'));
}

async function toyRows(page, backend) {
  for (const [preset, what, epochs] of [['paper', "the paper's 5 points, 81 x 81 view", 100], ['sheet', 'a 16-point sheet in 3-D, 26^3 volume', 40]]) {
    const ms = await toyEpochMs(page, preset, epochs).catch((e) => `not measured: ${e}`);
    rows.push([`Toy world epoch (${what}; 3 x 64 ReLU, Adam step + phase numbers + view), headless Chromium, ${backend}`, typeof ms === 'number' ? `${ms.toFixed(2)} ms per epoch (mean of ${epochs})` : ms]);
  }
}

// Whether the page started with models of its own (shipped pretrained ones): then it attacks
// the first test digit by itself, so an attack is running or its results are shown.
async function hasPretrained(page) {
  const started = '[data-testid="attack-results"], [data-testid="attack-status"][data-busy="true"]';
  return page.waitForSelector(started, { timeout: 10_000 }).then(() => true, () => false);
}

// Makes sure the page has a classifier and an autoencoder: the pretrained ones where the page
// starts with them, else a brief training (1 epoch MLP, 2 epochs autoencoder). Says which.
async function ensureModels(page) {
  if (await hasPretrained(page)) return 'the pretrained models';
  await byTestId(page, 'epochs').fill('1');
  await byTestId(page, 'train-start').click();
  await byTestId(page, 'ae-epochs').fill('2');
  await byTestId(page, 'ae-train-start').click();
  await page.waitForSelector('[data-testid="train-state"][data-state="finished"]', { timeout: 600_000 });
  await page.waitForSelector('[data-testid="ae-state"][data-state="finished"]', { timeout: 600_000 });
  return 'an MLP trained 1 epoch and the conv autoencoder trained 2 epochs on the page';
}

// Runs the attack with `steps` PGD steps and waits for its four views and then its 64 × 64
// slice; returns the page's timings and the wall time from the click to the drawn slice.
async function attackView(page, steps) {
  // The page may still be running its own first attack.
  await page.waitForSelector('[data-testid="attack-status"][data-busy="false"]', { timeout: 300_000 });
  await page.waitForSelector('[data-testid="slice-status"][data-busy="false"]', { timeout: 300_000 }).catch(() => {});
  await byTestId(page, 'attack-steps').fill(String(steps));
  const before = await page.evaluate(() => document.querySelector('[data-testid="attack-results"]')?.dataset.run ?? null);
  const t0 = Date.now();
  await byTestId(page, 'attack-run').click();
  const handle = await page.waitForFunction(
    (prev) => {
      const r = document.querySelector('[data-testid="attack-results"]');
      return r && r.dataset.run !== prev && document.querySelector('[data-testid="attack-status"]').dataset.busy === 'false' && r.dataset.run;
    },
    before,
    { timeout: 300_000 },
  );
  const run = await handle.jsonValue();
  const viewsMs = Date.now() - t0;
  await page.waitForFunction(
    (run) => {
      const plot = document.querySelector('[data-testid="slice-plot"]');
      return plot && plot.dataset.run === run && document.querySelector('[data-testid="slice-status"]').dataset.busy === 'false';
    },
    run,
    { timeout: 300_000 },
  );
  const wallMs = Date.now() - t0;
  const num = async (id, name) => Number(await byTestId(page, id).getAttribute(name));
  return {
    basis: await num('attack-results', 'data-timing-basis'),
    pgd: await num('attack-results', 'data-timing-pgd'),
    total: await num('attack-results', 'data-timing-total'),
    slice: await num('slice-status', 'data-ms'),
    resolution: await byTestId(page, 'slice-plot').getAttribute('data-resolution'),
    viewsMs,
    wallMs,
  };
}

// Page open (navigation start) to the first four views on the screen, in a fresh browser
// profile each time; also to "ready" (data loaded, Train enabled). Where the page shows no
// views by itself (no pretrained models), only the time to ready is measured.
async function openToViews(url) {
  const runs = [];
  for (let i = 0; i < RUNS; i++) {
    const context = await launch();
    await context.addInitScript(() => {
      window.__marks = {};
      const mark = () => {
        const m = window.__marks;
        if (m.ready === undefined && document.querySelector('[data-testid="train-start"]:not([disabled])')) m.ready = performance.now();
        if (m.views === undefined && document.querySelector('[data-testid="view-off-manifold"] canvas')) m.views = performance.now();
      };
      new MutationObserver(mark).observe(document, { subtree: true, childList: true, attributes: true });
    });
    try {
      const page = await openPage(context, url);
      await waitReady(page);
      const pretrained = await hasPretrained(page);
      if (pretrained) await page.waitForFunction(() => window.__marks.views !== undefined, null, { timeout: 300_000 });
      runs.push({ pretrained, ...(await page.evaluate(() => window.__marks)) });
    } finally {
      await context.close();
    }
  }
  return {
    pretrained: runs.every((r) => r.pretrained),
    ready: median(runs.map((r) => r.ready)),
    views: runs.every((r) => r.views !== undefined) ? median(runs.map((r) => r.views)) : null,
    runs,
  };
}

const TFJS_SETTINGS =
  'same MLP (input standardised, ReLU, softmax CE), Adam 1e-3 (eps 1e-5), batch 128, no augmentation, the same 12,000 bundle images gathered on the backend each step, loss read back every step';

// The floor (bench/burn-floor: burn training the reference MLP, no app), by build; each trains in
// the peers' page before it is weighed.
const FLOOR_DIR = join('target', 'burn-floor');
const floor = {};

// Trains the floor's build `build` for `steps` steps in `page` (bench/tfjs.html). Returns
// { steps, first, last, ms }, or { error } unless every loss is finite and the last five
// average below the first five.
async function floorTrain(page, build, steps) {
  try {
    await page.waitForSelector('#status[data-ready="true"]', { timeout: 60_000 });
    const { losses, ms } = await page.evaluate((o) => window.floorTrain(o), { build, steps });
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const [first, last] = [mean(losses.slice(0, 5)), mean(losses.slice(-5))];
    if (losses.length !== steps || !losses.every(Number.isFinite) || !(last < first)) {
      return { error: `the ${build} floor did not train: losses ${losses.map((l) => l.toFixed(3)).join(', ')}` };
    }
    return { steps, first, last, ms };
  } catch (e) {
    return { error: `the ${build} floor did not run: ${String(e).split('\n')[0]}` };
  }
}

const server = await serve(join(process.cwd(), 'dist'));
// The TensorFlow.js page and the npm bundles it loads, from the repository root.
const peerServer = await serve(process.cwd());
const TFJS_URL = peerServer.url + 'bench/tfjs.html';
try {
  // Dimple and JAX alternate, one run each a round, so that both see the same moments of this
  // shared machine (its speed drifts by tens of per cent over minutes).
  log('native reference workload, Dimple and JAX in turn');
  const NATIVE_ROUNDS = Math.max(RUNS, 5);
  const ours = [];
  const theirs = [];
  for (let round = 0; round < NATIVE_ROUNDS; round++) {
    ours.push(JSON.parse(native(['bench-train', '--runs', '1']).trim().split('\n').pop()));
    const j = jaxTrain(1);
    theirs.push(j);
    if (j.error) break;
  }
  const ref = {
    ...ours.at(-1),
    examples_per_s_runs: ours.map((r) => r.examples_per_s_median),
    examples_per_s_median: median(ours.map((r) => r.examples_per_s_median)),
  };
  const jaxError = theirs.find((j) => j.error)?.error;
  const jax = jaxError
    ? { error: jaxError }
    : {
        ...theirs.at(-1),
        examples_per_s_runs: theirs.map((j) => j.examples_per_s_median),
        examples_per_s_median: median(theirs.map((j) => j.examples_per_s_median)),
      };
  rows.push(['Training, reference workload (MLP, batch 128, 12,000 images), native CPU (burn Flex, ' + ref.threads + ' threads)', `${ref.examples_per_s_median} examples/s (median of ${ours.length} runs alternating with JAX's: ${ref.examples_per_s_runs.join(', ')}; test accuracy after 4 epochs ${ref.test_accuracy}%)`]);
  rows.push([`Peer: training, reference workload, native CPU, JAX${jax.jax ? ' ' + jax.jax : ''} (jit-compiled step, ${jax.cpus ?? '?'} cores)`, jax.error ?? `${jax.examples_per_s_median} examples/s (median of ${theirs.length} runs alternating with Dimple's: ${jax.examples_per_s_runs.join(', ')}; test accuracy after 4 epochs ${jax.test_accuracy}%)`]);
  compare('Training, reference workload, native CPU', ref.examples_per_s_median, `JAX ${jax.jax ?? ''} CPU`, jax.error ?? jax.examples_per_s_median, {
    unit: 'examples/s',
    higherIsBetter: true,
    settings: `1 warm-up + 3 timed epochs, median of ${ours.length} runs each, Dimple's and JAX's in turn; Dimple: burn Flex, ${ref.threads} threads (the batch's two halves side by side, gemm's AVX-512 kernels where the CPU has them, Adam fused); JAX: jit-compiled step (gather, grad, Adam) on the device-resident set, XLA's own threads on the ${cpus().length} cores; ${TFJS_SETTINGS}`,
  });

  log('native attack');
  const atk = JSON.parse(native(['bench-attack', '--images', '20']).trim().split('\n').pop());
  rows.push([`Attack view, native CPU: tangent basis (k = ${atk.latent}, ${atk.autoencoder} autoencoder) + 40-step L2 PGD, default MLP`, `${atk.tangent_basis_ms_median} ms + ${atk.pgd_40_steps_ms_median} ms per image (median of ${atk.images})`]);

  log('native quality bar');
  for (const model of ['mlp', 'cnn']) {
    const q = nativeQuality(model);
    rows.push([`Quality bar, ${model.toUpperCase()} 10 epochs (default settings), native CPU`, `${q.accuracy}% test accuracy, ${q.seconds.toFixed(1)} s`]);
  }

  log('browser CPU: reference workload, Dimple then TensorFlow.js');
  let context = await launch();
  const cpu = await dimpleReference(context, server.url + '?backend=cpu&pretrained=0');
  const last = cpu.runs.at(-1);
  rows.push(['Training, reference workload (4 epochs), headless Chromium, CPU backend (burn Flex, wasm SIMD, 1 thread)', `${round(cpu.median)} examples/s in the 3 timed epochs' steps (median of ${RUNS} runs: ${cpu.runs.map((r) => round(r.examplesPerSecond)).join(', ')}); 4 epochs in ${last.seconds.toFixed(1)} s wall time including evaluation and drawing; ${last.accuracy}% test accuracy`]);
  let page = await openPage(context, TFJS_URL);
  const tfjs = {};
  for (const backend of ['wasm', 'cpu']) {
    log(`tfjs ${backend}`);
    tfjs[backend] = await tfjsTrain(page, backend, { runs: RUNS, warmupEpochs: 1, timedEpochs: 3 });
    const r = tfjs[backend];
    const detail = backend === 'wasm' && !r.error ? `, SIMD ${r.simd ? 'on' : 'off'}, ${r.threads ? 'threads' : '1 thread'}` : '';
    rows.push([`Peer: training, reference workload (4 epochs), headless Chromium, TensorFlow.js ${r.version ?? ''} \`${backend}\`${detail}`, r.error ?? `${round(r.median)} examples/s in the 3 timed epochs' steps (median of ${RUNS} runs: ${r.runs.map((x) => round(x.examplesPerSecond)).join(', ')}); ${r.runs.at(-1).testAccuracy}% test accuracy`]);
  }
  log('tfjs webgl');
  tfjs.webgl = await tfjsTrain(page, 'webgl', { runs: 1, ...GPU_WINDOW });
  rows.push([`Peer: training, reference model and batch, headless Chromium, TensorFlow.js \`webgl\` (SwiftShader GL)`, tfjs.webgl.error ?? `${round(tfjs.webgl.median)} examples/s (steps timed over 30 s after a 30 s warm-up)`]);
  log('floor: burn alone, on the CPU');
  floor.cpu = await floorTrain(page, 'cpu', 60);
  const cpuSettings = `1 warm-up + 3 timed epochs, only the steps timed (each with its loss readback), median of ${RUNS} runs; Dimple: the page, burn Flex, wasm SIMD, 1 thread; tfjs: bench/tfjs.html; ${TFJS_SETTINGS}`;
  for (const backend of ['wasm', 'cpu']) {
    const r = tfjs[backend];
    compare('Training, reference workload, headless Chromium on the CPU', cpu.median, `TensorFlow.js \`${backend}\`${backend === 'wasm' ? ' (SIMD)' : ''}`, r.error ?? r.median, { unit: 'examples/s', higherIsBetter: true, settings: cpuSettings });
  }
  compare("Training, reference workload, headless Chromium: Dimple's CPU backend vs tfjs's WebGL (SwiftShader)", cpu.median, 'TensorFlow.js `webgl`', tfjs.webgl.error ?? tfjs.webgl.median, {
    unit: 'examples/s',
    higherIsBetter: true,
    settings: `Dimple as above; tfjs webgl: steps timed over 30 s after a 30 s warm-up, 1 run; ${TFJS_SETTINGS}`,
  });

  for (const model of ['mlp', 'cnn']) {
    page = await openPage(context, server.url + '?backend=cpu&pretrained=0');
    await waitReady(page);
    const q = await browserTrain(page, { model, epochs: 10 }).catch((e) => ({ error: String(e) }));
    rows.push([`Quality bar, ${model.toUpperCase()} 10 epochs (default settings), headless Chromium, CPU backend`, q.error ?? `${q.accuracy}% test accuracy, ${q.seconds.toFixed(1)} s wall time (${Math.round(q.examplesPerSecond)} examples/s in steps)`]);
  }

  log('browser attack');
  try {
    page = await openPage(context, server.url + '?backend=cpu');
    await waitReady(page);
    const models = await ensureModels(page);
    await byTestId(page, 'gallery-pick').first().click();
    const defaultSteps = await byTestId(page, 'attack-steps').inputValue();
    const full = [];
    for (let i = 0; i < RUNS; i++) full.push(await attackView(page, defaultSteps));
    const mid = (k, xs = full) => median(xs.map((t) => t[k]));
    rows.push([`Attack view, headless Chromium, CPU backend: tangent basis (k = 16, conv autoencoder) + PGD (${defaultSteps} steps plain, and the restricted batch) for one image`, `${mid('basis')} ms + ${mid('pgd')} ms, ${mid('total')} ms in all (median of ${RUNS}; ${models})`]);
    const short = [];
    for (let i = 0; i < RUNS; i++) short.push(await attackView(page, 40));
    rows.push([`Attack view latency, headless Chromium, CPU backend: tangent basis (k = 16, conv autoencoder) + 40-step PGD (the restricted batch of 4 at the search radius, then the plain attack) + the four views + a ${short[0].resolution} × ${short[0].resolution} slice and its two profiles`, `${mid('wallMs', short)} ms from the click to the drawn slice (median of ${RUNS}); in the page's timings: basis ${mid('basis', short)} ms, PGD ${mid('pgd', short)} ms, views in all ${mid('total', short)} ms, slice ${mid('slice', short)} ms; ${models}`]);
    log('tfjs attack view');
    page = await openPage(context, TFJS_URL);
    await page.waitForSelector('#status[data-ready="true"]', { timeout: 60_000 });
    const peer = await page.evaluate((o) => window.tfjsAttackView(o), { backend: 'wasm', runs: RUNS, steps: 40, resolution: 64 }).catch((e) => ({ error: String(e).split('\n')[0] }));
    const f = (x) => x.toFixed(1);
    rows.push(['Peer: attack view, headless Chromium, TensorFlow.js `wasm`: the same computation (decoder Jacobian in forward mode as Dimple computes it, 16 tangents decoded beside z, host QR, 40-step PGD batches of 4 and 1 with the same projections, the four views, 64 × 64 slice in 16-row pieces and two 161-point profiles), untrained weights of the same shapes, no drawing', peer.error ?? `${f(peer.total)} ms (median of ${RUNS}): basis ${f(peer.basis)} ms, PGD ${f(peer.pgd)} ms, views ${f(peer.views)} ms, slice ${f(peer.slice)} ms`]);
    compare('Attack view (tangent basis k = 16 + 40-step PGD + four views + 64 × 64 slice), compute time, headless Chromium on the CPU', mid('total', short) + mid('slice', short), 'TensorFlow.js `wasm` (SIMD)', peer.error ?? peer.total, {
      unit: 'ms',
      higherIsBetter: false,
      settings: `median of ${RUNS}; Dimple: the page's own timings (attack: basis + PGD + views; slice), burn Flex, wasm SIMD, ${models}; tfjs: bench/tfjs.mjs tfjsAttackView, the same shapes and steps with untrained weights (the cost does not depend on them); Dimple's wall time click to drawn slice, with drawing and yields: ${mid('wallMs', short)} ms`,
    });
  } catch (e) {
    rows.push(['Attack view, headless Chromium, CPU backend', `not measured: ${e}`]);
  }
  log('browser toy worlds, CPU');
  page = await openPage(context, server.url + '?backend=cpu&pretrained=0');
  await waitReady(page);
  await toyRows(page, 'CPU backend');
  await context.close();

  log('page open to the first four views');
  const open = await openToViews(server.url);
  rows.push([
    open.pretrained ? 'Page open to the first four views (pretrained models, default attack), headless Chromium, CPU (no WebGPU adapter)' : 'Page open to ready (data loaded; the page shows no views before a model is trained), headless Chromium, CPU',
    open.pretrained
      ? `${round(open.views)} ms (median of ${RUNS} fresh profiles; ready to train at ${round(open.ready)} ms)`
      : `${round(open.ready)} ms (median of ${RUNS} fresh profiles)`,
  ]);

  // The page as published (make dist: the same builds shrunk by wasm-opt): it must work, and open
  // as fast as the tested one.
  if (existsSync(PUBLISHED)) {
    log('published page open');
    const published = await serve(join(process.cwd(), PUBLISHED));
    try {
      const open = await openToViews(published.url).catch((e) => ({ error: String(e).split('\n')[0] }));
      rows.push([
        'Page open to the first four views, the published build (`make dist`: compiled for size, wasm-opt -Oz without inlining), headless Chromium, CPU',
        open.error ?? `${round(open.views)} ms (median of ${RUNS} fresh profiles; ready to train at ${round(open.ready)} ms)`,
      ]);
    } finally {
      await published.close();
    }
  }

  log('browser WebGPU');
  context = await launch({ webgpu: true });
  // No pretrained models: the page's first attack would run beside the training.
  page = await openPage(context, server.url + '?pretrained=0&backend=webgpu');
  await waitReady(page, 180_000);
  const label = await byTestId(page, 'backend').innerText();
  const adapter = label.replace('Backend: ', '');
  let gpu = null;
  if (/WebGPU/.test(label)) {
    gpu = await dimpleTrain(page, GPU_WINDOW).catch((e) => ({ error: String(e) }));
    rows.push([`Training, MLP batch 128, headless Chromium, ${adapter}`, gpu.error ?? `${round(gpu.examplesPerSecond)} examples/s (steps timed over 30 s after a 30 s warm-up; SwiftShader is a CPU emulation of a GPU, so this is no measure of real WebGPU speed)`]);
    page = await openPage(context, server.url + '?pretrained=0&backend=webgpu');
    await waitReady(page, 180_000);
    await toyRows(page, adapter);
  } else {
    rows.push(['Training, headless Chromium, WebGPU', `not measured: ${label}`]);
  }
  log('tfjs webgpu');
  page = await openPage(context, TFJS_URL);
  tfjs.webgpu = await tfjsTrain(page, 'webgpu', { runs: 1, ...GPU_WINDOW });
  rows.push([`Peer: training, MLP batch 128, headless Chromium, TensorFlow.js \`webgpu\` (${tfjs.webgpu.adapter ?? 'no adapter'})`, tfjs.webgpu.error ?? `${round(tfjs.webgpu.median)} examples/s (steps timed over 30 s after a 30 s warm-up)`]);
  log('floor: burn alone, on WebGPU');
  floor.webgpu = await floorTrain(page, 'webgpu', 12);
  compare('Training, reference model and batch, headless Chromium on WebGPU', gpu ? gpu.error ?? gpu.examplesPerSecond : label, 'TensorFlow.js `webgpu`', tfjs.webgpu.error ?? tfjs.webgpu.median, {
    unit: 'examples/s',
    higherIsBetter: true,
    settings: `${adapter}; steps (each with its loss readback) timed over 30 s after a 30 s warm-up, 1 run each; ${TFJS_SETTINGS}`,
  });
  await context.close();
} finally {
  await server.close();
  await peerServer.close();
}

const size = (p) => statSync(p).size;
const gz = (p) => gzipSync(readFileSync(p), { level: 9 }).length;
const mb = (n) => (n / 1e6).toFixed(2) + ' MB';
// The code of one of a built page's two builds (static/start.js loads one): its .wasm and its
// JavaScript glue, with WebGPU (Trunk's dimple-*) or without (without-webgpu-*/dimple*).
const code = (dir, cpu) => {
  if (cpu) dir = join(dir, readdirSync(dir).find((f) => f.startsWith('without-webgpu-')));
  return ['_bg.wasm', '.js'].map((end) => join(dir, readdirSync(dir).find((f) => f.startsWith('dimple') && f.endsWith(end))));
};
const published = existsSync(PUBLISHED);
// How `make dist` compiles each build.
const BUILDS = [
  { cpu: true, name: 'without WebGPU (loaded where the browser has no hardware WebGPU adapter)', tested: 'compiled for size (Cargo profile web), no wasm-opt', publish: 'compiled for size, wasm-opt -Oz without inlining' },
  { cpu: false, name: 'with WebGPU (loaded where it has one, or with ?backend=webgpu)', tested: 'compiled for size (Cargo profile web), no wasm-opt', publish: 'compiled for size, LTO, wasm-opt -Oz' },
];
for (const build of BUILDS) {
  const [wasm, js] = code('dist', build.cpu);
  rows.push([`Release wasm ${build.name}, as tested (${build.tested}), raw / gzipped`, `${mb(size(wasm))} / ${mb(gz(wasm))}`]);
  build.shipped = published ? code(PUBLISHED, build.cpu) : [wasm, js];
  if (published) rows.push([`Release wasm ${build.name}, as published (\`make dist\`: ${build.publish}), raw / gzipped`, `${mb(size(build.shipped[0]))} / ${mb(gz(build.shipped[0]))}`]);
  rows.push([`JavaScript glue ${build.name}, raw / gzipped`, `${mb(size(js))} / ${mb(gz(js))}`]);
  build.gz = gz(build.shipped[0]) + gz(build.shipped[1]);
}
const dist = 'dist';
const bundle = join('static', 'data', 'mnist-bundle.dmpl.zlib');
rows.push(['MNIST bundle (12,000 train + 2,000 test), as shipped (zlib-packed) / gzipped on top', `${mb(size(bundle))} / ${mb(gz(bundle))}`]);
const models = readdirSync(join(dist, 'models'), { recursive: true }).filter((f) => f.startsWith('mnist-') && f.endsWith('.dmplm'));
const modelsGz = models.reduce((sum, f) => sum + gz(join(dist, 'models', f)), 0);
if (models.length) rows.push([`Pretrained MNIST models (${models.join(', ')}; 8-bit values), gzipped`, mb(modelsGz)]);
// What the tfjs page loads to train on wasm and on WebGPU, the two paths Dimple's page has: the
// tfjs bundle (core, gradients, cpu and webgl backends, layers) and the wasm backend with its
// SIMD module; with WebGPU, also the WebGPU backend.
const TFJS_CPU = [
  'node_modules/@tensorflow/tfjs/dist/tf.min.js',
  'node_modules/@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js',
  'node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm',
];
const TFJS_WEBGPU = [...TFJS_CPU, 'node_modules/@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js'];
const gzAll = (files) => files.reduce((sum, f) => sum + gz(f), 0);
const sizeAll = (files) => files.reduce((sum, f) => sum + size(f), 0);
rows.push(['Peer: TensorFlow.js 4.22 code for training on wasm (tf.min.js + tf-backend-wasm.min.js + its SIMD .wasm), raw / gzipped', `${mb(sizeAll(TFJS_CPU))} / ${mb(gzAll(TFJS_CPU))}`]);
rows.push(['Peer: TensorFlow.js 4.22 code for training on wasm and WebGPU (the above + tf-backend-webgpu.min.js), raw / gzipped', `${mb(sizeAll(TFJS_WEBGPU))} / ${mb(gzAll(TFJS_WEBGPU))}`]);
const shipped = (build) => (published ? `published .wasm (make dist: ${build.publish})` : 'release .wasm (no wasm-opt; run make dist for the published size)');
const [withoutGpu, withGpu] = BUILDS;
compare('Code download, gzipped, a browser without a hardware WebGPU adapter', withoutGpu.gz / 1e6, 'TensorFlow.js (tfjs + wasm backend)', gzAll(TFJS_CPU) / 1e6, {
  unit: 'MB',
  higherIsBetter: false,
  format: (x) => x.toFixed(2),
  settings: `Dimple: the build without WebGPU, ${shipped(withoutGpu)} + its JavaScript glue, the whole app (CPU backend, UI, plots); tfjs: only the library files its page loads to train on wasm, no app; gzip -9`,
});
compare('Code download, gzipped, a browser with WebGPU', withGpu.gz / 1e6, 'TensorFlow.js (tfjs + wasm and webgpu backends)', gzAll(TFJS_WEBGPU) / 1e6, {
  unit: 'MB',
  higherIsBetter: false,
  format: (x) => x.toFixed(2),
  settings: `Dimple: the build with WebGPU, ${shipped(withGpu)} + its JavaScript glue, the whole app (CPU and WebGPU backends, UI, plots); tfjs: only the library files its page loads to train on wasm and WebGPU, no app; gzip -9`,
});
// Library against library: burn's training code alone against tfjs's, both with no app.
const FLOOR_BUILDS = [
  { name: 'cpu', what: 'on the CPU', peer: 'TensorFlow.js (tfjs + wasm backend)', peerFiles: TFJS_CPU, backends: 'burn Flex', publish: 'compiled for size, wasm-opt -Oz without inlining' },
  { name: 'webgpu', what: 'on the CPU or WebGPU', peer: 'TensorFlow.js (tfjs + wasm and webgpu backends)', peerFiles: TFJS_WEBGPU, backends: 'burn Flex and burn-wgpu', publish: 'compiled for size, LTO, wasm-opt -Oz' },
];
for (const build of FLOOR_BUILDS) {
  const files = ['floor_bg.wasm', 'floor.js'].map((f) => join(FLOOR_DIR, build.name, f));
  const trained = floor[build.name] ?? { error: 'not run' };
  const weight = files.every(existsSync) ? gzAll(files) / 1e6 : 'not built (bench/burn-floor/build.sh)';
  if (typeof weight === 'number') {
    const how = trained.error ?? `trained ${trained.steps} steps in the peers' page, mean loss of the first and last five ${trained.first.toFixed(2)} → ${trained.last.toFixed(2)}, ${(trained.ms / 1000).toFixed(1)} s`;
    rows.push([`The floor: burn alone training the reference MLP ${build.what} (bench/burn-floor: ${build.backends}, burn's Linear, cross-entropy and Adam, no app; ${build.publish}), .wasm + glue, raw / gzipped`, `${mb(sizeAll(files))} / ${mb(gzAll(files))} (${how})`]);
  }
  compare(`Code download, gzipped, library against library: training the reference MLP ${build.what}`, trained.error ?? weight, build.peer, gzAll(build.peerFiles) / 1e6, {
    unit: 'MB',
    higherIsBetter: false,
    format: (x) => x.toFixed(2),
    settings: `Dimple's floor: burn alone (${build.backends}, burn's Linear, cross-entropy and Adam, one exported training function, no UI, no app; ${build.publish}; bench/burn-floor), what no page built on burn can go below; tfjs: the same library files as above; gzip -9. The whole app's rows above add Dimple's UI, plots, autoencoder, attacks and experiments`,
  });
}
compare('Code + data download, gzipped, a browser without a hardware WebGPU adapter', (withoutGpu.gz + gz(bundle) + modelsGz) / 1e6, 'TensorFlow.js (tfjs + wasm backend) + the same bundle', (gzAll(TFJS_CPU) + gz(bundle)) / 1e6, {
  unit: 'MB',
  higherIsBetter: false,
  format: (x) => x.toFixed(2),
  settings: 'as above, plus the MNIST bundle on both sides and, for Dimple, its pretrained models (the tfjs page ships none); gzip -9',
});

const md = `# Benchmarks

Written by \`make bench\` on ${new Date().toISOString().slice(0, 10)}, on a machine with ${cpus().length} cores
(${cpus()[0]?.model ?? 'unknown CPU'}). Rows come from one run; compare them with each other, not
with runs on other machines. The machine is shared, so figures are noisy (a few tens of per
cent between runs); the ratios, measured minutes apart in the same run, are the figures to
read. The reference workload is defined in PERFORMANCE.md; bench/README.md says how the peers
are run.

## Against the peers

Ratio = Dimple / peer; for speeds higher is better, for sizes lower is better.

| what | Dimple | peer | peer's figure | Dimple / peer | settings |
|---|---|---|---|---|---|
${versus.map((v) => `| ${v.what} | ${v.dimple} | ${v.peerName} | ${v.peer} | ${v.ratio} | ${v.settings} |`).join('\n')}

## Every row

| what | measured |
|---|---|
${rows.map(([a, b]) => `| ${a} | ${b} |`).join('\n')}
`;
writeFileSync('BENCHMARKS.md', md);
console.log(md);

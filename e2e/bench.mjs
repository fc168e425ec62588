// `make bench`: measures training speed natively and in headless Chromium (CPU, and WebGPU
// where the browser has an adapter), the quality bar (10 epochs of each model) and the
// shipped sizes, and writes BENCHMARKS.md. Absolute times drift on shared machines: compare
// rows measured in the same run.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { serve } from './server.mjs';
import { launch, openPage, byTestId, waitReady } from './browser.mjs';

const NATIVE = process.env.NATIVE ?? join(process.env.CARGO_TARGET_DIR ?? 'target', 'release', 'dimple');
const rows = [];
const log = (...a) => console.log('[bench]', ...a);

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

// Steady-state speed: steps counted over a window after `warmupMs`, batch 128.
async function browserWindowSpeed(page, warmupMs, windowMs) {
  await byTestId(page, 'model-select').selectOption('mlp');
  await byTestId(page, 'epochs').fill('4');
  await byTestId(page, 'batch-size').fill('128');
  await byTestId(page, 'learning-rate').fill('0.001');
  await setPlainRecipe(page);
  await byTestId(page, 'train-start').click();
  const steps = async () => Number((await byTestId(page, 'train-step').getAttribute('data-done')) ?? 0);
  await page.waitForTimeout(warmupMs);
  const [s0, t0] = [await steps(), Date.now()];
  await page.waitForTimeout(windowMs);
  const [s1, t1] = [await steps(), Date.now()];
  await byTestId(page, 'train-cancel').click();
  return ((s1 - s0) * 128) / ((t1 - t0) / 1000);
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

const server = await serve(join(process.cwd(), 'dist'));
try {
  log('native reference workload');
  const ref = JSON.parse(native(['bench-train', '--runs', '3']).trim().split('\n').pop());
  rows.push(['Training, reference workload (MLP, batch 128, 12,000 images), native CPU (burn Flex, ' + ref.threads + ' threads)', `${ref.examples_per_s_median} examples/s (runs ${ref.examples_per_s_runs.join(', ')}; test accuracy after 4 epochs ${ref.test_accuracy}%)`]);

  log('native attack');
  const atk = JSON.parse(native(['bench-attack', '--images', '20']).trim().split('\n').pop());
  rows.push([`Attack view, native CPU: tangent basis (k = ${atk.latent}, ${atk.autoencoder} autoencoder) + 40-step L2 PGD, default MLP`, `${atk.tangent_basis_ms_median} ms + ${atk.pgd_40_steps_ms_median} ms per image (median of ${atk.images})`]);

  log('native quality bar');
  for (const model of ['mlp', 'cnn']) {
    const q = nativeQuality(model);
    rows.push([`Quality bar, ${model.toUpperCase()} 10 epochs (default settings), native CPU`, `${q.accuracy}% test accuracy, ${q.seconds.toFixed(1)} s`]);
  }

  log('browser CPU');
  let context = await launch();
  let page = await openPage(context, server.url + '?backend=cpu');
  await waitReady(page);
  const cpu = await browserTrain(page, { model: 'mlp', epochs: 4, batch: '128', lr: '0.001', plain: true });
  rows.push(['Training, reference workload (4 epochs), headless Chromium, CPU backend (burn Flex, wasm SIMD, 1 thread)', `${Math.round(cpu.examplesPerSecond)} examples/s in training steps; 4 epochs in ${cpu.seconds.toFixed(1)} s wall time including evaluation and drawing; ${cpu.accuracy}% test accuracy`]);
  for (const model of ['mlp', 'cnn']) {
    page = await openPage(context, server.url + '?backend=cpu');
    await waitReady(page);
    const q = await browserTrain(page, { model, epochs: 10 }).catch((e) => ({ error: String(e) }));
    rows.push([`Quality bar, ${model.toUpperCase()} 10 epochs (default settings), headless Chromium, CPU backend`, q.error ?? `${q.accuracy}% test accuracy, ${q.seconds.toFixed(1)} s wall time (${Math.round(q.examplesPerSecond)} examples/s in steps)`]);
  }
  log('browser attack');
  try {
    page = await openPage(context, server.url + '?backend=cpu');
    await waitReady(page);
    await byTestId(page, 'epochs').fill('1');
    await byTestId(page, 'train-start').click();
    await byTestId(page, 'ae-epochs').fill('2');
    await byTestId(page, 'ae-train-start').click();
    await page.waitForSelector('[data-testid="train-state"][data-state="finished"]', { timeout: 600_000 });
    await page.waitForSelector('[data-testid="ae-state"][data-state="finished"]', { timeout: 600_000 });
    await byTestId(page, 'gallery-pick').first().click();
    const timings = [];
    for (let i = 0; i < 3; i++) {
      const before = await page.evaluate(() => document.querySelector('[data-testid="attack-results"]')?.dataset.run ?? null);
      await byTestId(page, 'attack-run').click();
      await page.waitForFunction(
        (prev) => {
          const r = document.querySelector('[data-testid="attack-results"]');
          return r && r.dataset.run !== prev && document.querySelector('[data-testid="attack-status"]').dataset.busy === 'false';
        },
        before,
        { timeout: 120_000 },
      );
      const r = byTestId(page, 'attack-results');
      timings.push([r.getAttribute('data-timing-basis'), r.getAttribute('data-timing-pgd'), r.getAttribute('data-timing-total')]);
      timings[i] = (await Promise.all(timings[i])).map(Number);
    }
    const mid = (k) => timings.map((t) => t[k]).sort((a, b) => a - b)[1];
    const steps = await byTestId(page, 'attack-steps').inputValue();
    rows.push([`Attack view, headless Chromium, CPU backend: tangent basis (k = 16, conv autoencoder) + PGD (${steps} steps plain, and the restricted batch) for one image`, `${mid(0)} ms + ${mid(1)} ms, ${mid(2)} ms in all (median of 3)`]);
  } catch (e) {
    rows.push(['Attack view, headless Chromium, CPU backend', `not measured: ${e}`]);
  }
  log('browser toy worlds, CPU');
  page = await openPage(context, server.url + '?backend=cpu');
  await waitReady(page);
  await toyRows(page, 'CPU backend');
  await context.close();

  log('browser WebGPU');
  context = await launch({ webgpu: true });
  page = await openPage(context, server.url);
  await waitReady(page, 180_000);
  const label = await byTestId(page, 'backend').innerText();
  if (/WebGPU/.test(label)) {
    const speed = await browserWindowSpeed(page, 30_000, 30_000);
    rows.push([`Training, MLP batch 128, headless Chromium, ${label.replace('Backend: ', '')}`, `${Math.round(speed)} examples/s (steps counted over 30 s after a 30 s warm-up; SwiftShader is a CPU emulation of a GPU, so this is no measure of real WebGPU speed)`]);
    page = await openPage(context, server.url);
    await waitReady(page, 180_000);
    await toyRows(page, label.replace('Backend: ', ''));
  } else {
    rows.push(['Training, headless Chromium, WebGPU', `not measured: ${label}`]);
  }
  await context.close();
} finally {
  await server.close();
}

const dist = 'dist';
const wasm = readdirSync(dist).find((f) => f.endsWith('.wasm'));
const js = readdirSync(dist).find((f) => f.endsWith('.js'));
const size = (p) => statSync(p).size;
const gz = (p) => gzipSync(readFileSync(p), { level: 9 }).length;
const mb = (n) => (n / 1e6).toFixed(2) + ' MB';
rows.push(['Release wasm (no wasm-opt), raw / gzipped', `${mb(size(join(dist, wasm)))} / ${mb(gz(join(dist, wasm)))}`]);
rows.push(['JavaScript glue, raw / gzipped', `${mb(size(join(dist, js)))} / ${mb(gz(join(dist, js)))}`]);
const bundle = join('static', 'data', 'mnist-bundle.dmpl');
rows.push(['MNIST bundle (12,000 train + 2,000 test), raw / gzipped', `${mb(size(bundle))} / ${mb(gz(bundle))}`]);

const md = `# Benchmarks

Written by \`make bench\` on ${new Date().toISOString().slice(0, 10)}, on a machine with ${cpus().length} cores
(${cpus()[0]?.model ?? 'unknown CPU'}). Rows come from one run; compare them with each other, not
with runs on other machines. The reference workload is defined in PERFORMANCE.md.

| what | measured |
|---|---|
${rows.map(([a, b]) => `| ${a} | ${b} |`).join('\n')}
`;
writeFileSync('BENCHMARKS.md', md);
console.log(md);

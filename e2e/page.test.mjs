// End-to-end tests of the page in headless Chromium: once without WebGPU (CPU fallback),
// once with SwiftShader's WebGPU adapter. Any console error fails the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SHOTS, launch, openPage, byTestId, waitReady, longTasksSince, servePage } from './browser.mjs';

const server = servePage('report.json', 'e2e');
const report = server.report;

const stateOf = (page) => byTestId(page, 'train-state').getAttribute('data-state');
const stepsDone = async (page) => Number(await byTestId(page, 'train-step').getAttribute('data-done'));
const waitState = (page, state, timeout) =>
  page.waitForSelector(`[data-testid="train-state"][data-state="${state}"]`, { timeout });
// The builds of the page (static/start.js) whose modules were fetched from the n-th request on:
// 'cpu' for the one without WebGPU, 'webgpu' for the one with it. The server forbids caching.
const buildsFetchedSince = (n) =>
  server.requests
    .slice(n)
    .filter((path) => path.endsWith('.wasm'))
    .map((path) => (/^\/without-webgpu-[0-9a-f]{16}\/dimple_bg\.wasm$/.test(path) ? 'cpu' : 'webgpu'));

test('CPU fallback: label, one epoch above 85%, pause, resume, cancel, bad input', { timeout: 900_000 }, async () => {
  const context = await launch();
  try {
    let fetched = server.requests.length;
    const page = await openPage(context, server.url + '?pretrained=0');
    await waitReady(page);
    const label = await byTestId(page, 'backend').innerText();
    assert.match(label, /CPU \(WebGPU unavailable: .+\)/, label);
    // No adapter: the build without WebGPU, and nothing of the other.
    assert.deepEqual(buildsFetchedSince(fetched), ['cpu']);
    const loadTasks = await longTasksSince(page, 0);
    report.cpu_load_worst_long_task_ms = Math.max(0, ...loadTasks.map((t) => t.duration));

    await byTestId(page, 'epochs').fill('1');
    const t0 = await page.evaluate(() => performance.now());
    await byTestId(page, 'train-start').click();
    await waitState(page, 'finished', 600_000);
    const t1 = await page.evaluate(() => performance.now());
    const accuracy = Number(await byTestId(page, 'test-accuracy').getAttribute('data-value'));
    report.cpu_one_epoch_test_accuracy = accuracy;
    report.cpu_one_epoch_seconds = (t1 - t0) / 1000;
    report.cpu_examples_per_s = Number(await byTestId(page, 'train-speed').getAttribute('data-value'));
    assert.ok(accuracy > 85, `test accuracy ${accuracy}% after one epoch`);
    assert.equal(await byTestId(page, 'train-progress').getAttribute('aria-valuenow'), '100');
    const tasks = await longTasksSince(page, t0);
    const worst = Math.max(0, ...tasks.map((t) => t.duration));
    report.cpu_training_worst_long_task_ms = worst;
    assert.ok(worst < 200, `a main-thread task ran ${worst} ms while training`);

    const items = byTestId(page, 'gallery-item');
    assert.equal(await items.count(), 30);
    const predictions = await items.evaluateAll((els) => els.map((e) => [e.dataset.label, e.dataset.prediction]));
    const right = predictions.filter(([l, p]) => l === p).length;
    assert.ok(right >= 24, `gallery: ${right} of 30 right`);
    await page.screenshot({ path: join(SHOTS, 'cpu-trained.png'), fullPage: true });

    // Pause holds the step count, Resume continues, Cancel stops and keeps the trained model.
    await byTestId(page, 'epochs').fill('3');
    await byTestId(page, 'train-start').click();
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="train-step"]')?.dataset.done) >= 5);
    await byTestId(page, 'train-pause').click();
    await waitState(page, 'paused', 10_000);
    const held = await stepsDone(page);
    await page.waitForTimeout(1000);
    assert.equal(await stepsDone(page), held, 'steps advanced while paused');
    assert.equal(await byTestId(page, 'train-pause').innerText(), 'Resume');
    await byTestId(page, 'train-pause').click();
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid="train-step"]').dataset.done) > n, held);
    await byTestId(page, 'train-cancel').click();
    await waitState(page, 'cancelled', 10_000);
    assert.equal(await stateOf(page), 'cancelled');
    assert.equal(await byTestId(page, 'train-start').isEnabled(), true);
    // Cancelled inside its first epoch: the model and accuracy of the first run remain.
    assert.equal(Number(await byTestId(page, 'test-accuracy').getAttribute('data-value')), accuracy);

    // A setting that is not a number gets a clear message and starts nothing.
    await byTestId(page, 'learning-rate').fill('');
    await byTestId(page, 'train-start').click();
    await assert.doesNotReject(
      byTestId(page, 'notice').filter({ hasText: 'learning rate' }).waitFor({ timeout: 5000 }),
    );
    assert.equal(await stateOf(page), 'cancelled');
    await page.screenshot({ path: join(SHOTS, 'cpu-notice.png'), fullPage: true });

    // The full set loads only when asked for, and the trained model survives the switch.
    assert.match(await byTestId(page, 'dataset-info').innerText(), /12,000 training and 2,000 test/);
    await byTestId(page, 'dataset-size').selectOption('full');
    await page.waitForFunction(
      () => /60,000 training and 10,000 test/.test(document.querySelector('[data-testid="dataset-info"]').textContent),
      null,
      { timeout: 120_000 },
    );
    await waitReady(page);
    assert.equal(Number(await byTestId(page, 'test-accuracy').getAttribute('data-value')), accuracy);
    assert.deepEqual(page.errors, []);

    // ?backend=cpu forces the CPU; ?backend=webgpu without an adapter says so and falls back.
    fetched = server.requests.length;
    const forced = await openPage(context, server.url + '?backend=cpu&pretrained=0');
    await waitReady(forced);
    assert.match(await byTestId(forced, 'backend').innerText(), /CPU \(chosen by \?backend=cpu\)/);
    assert.deepEqual(buildsFetchedSince(fetched), ['cpu']);
    // Asked for, the build with WebGPU is loaded, finds no adapter and says so; the last value
    // of a key given twice counts, as the page reads links.
    fetched = server.requests.length;
    const wanted = await openPage(context, server.url + '?backend=cpu&backend=webgpu&pretrained=0');
    await waitReady(wanted);
    assert.deepEqual(buildsFetchedSince(fetched), ['webgpu']);
    assert.match(await byTestId(wanted, 'backend').innerText(), /CPU \(WebGPU unavailable/);
    await byTestId(wanted, 'notice').filter({ hasText: 'WebGPU was asked for' }).waitFor({ timeout: 5000 });
    assert.deepEqual(wanted.errors, []);
  } finally {
    await context.close();
  }
});

// Trains one epoch until `steps` steps are done, checks that the loss fell below 80% of the
// first step's, cancels, and returns [first, latest].
async function lowersTheLoss(page, steps, timeout) {
  await byTestId(page, 'epochs').fill('1');
  await byTestId(page, 'train-start').click();
  await page.waitForFunction(
    (n) => Number(document.querySelector('[data-testid="train-step"]')?.dataset.done) >= n,
    steps,
    { timeout },
  );
  const loss = byTestId(page, 'train-loss');
  const first = Number(await loss.getAttribute('data-first'));
  const latest = Number(await loss.getAttribute('data-value'));
  assert.ok(Number.isFinite(first) && latest < first * 0.8, `loss ${first} -> ${latest}`);
  await byTestId(page, 'train-cancel').click();
  await waitState(page, 'cancelled', 60_000);
  return [first, latest];
}

test('WebGPU (SwiftShader): passed over for the CPU unless asked for; asked for, a few steps lower the loss', { timeout: 600_000 }, async () => {
  const context = await launch({ webgpu: true });
  try {
    // Left to choose, the page passes SwiftShader's software adapter over for the CPU backend,
    // and loads the build without WebGPU to run there.
    let fetched = server.requests.length;
    const auto = await openPage(context, server.url + '?pretrained=0');
    await waitReady(auto, 180_000);
    const chosen = await byTestId(auto, 'backend').innerText();
    assert.match(chosen, /CPU \(WebGPU has only a software adapter here, .*fallback adapter.*\?backend=webgpu uses it\)/, chosen);
    assert.deepEqual(buildsFetchedSince(fetched), ['cpu']);
    report.auto_label_with_a_software_adapter = chosen;
    assert.deepEqual(auto.errors, []);

    fetched = server.requests.length;
    const page = await openPage(context, server.url + '?pretrained=0&backend=webgpu');
    await waitReady(page, 180_000);
    const label = await byTestId(page, 'backend').innerText();
    assert.match(label, /WebGPU \(.+\)/, label);
    assert.deepEqual(buildsFetchedSince(fetched), ['webgpu']);
    report.webgpu_label = label;
    const t0 = await page.evaluate(() => performance.now());
    report.webgpu_loss_first_and_after_25_steps = await lowersTheLoss(page, 25, 400_000);
    report.webgpu_examples_per_s = Number(await byTestId(page, 'train-speed').getAttribute('data-value'));
    const tasks = await longTasksSince(page, t0);
    report.webgpu_training_worst_long_task_ms = Math.max(0, ...tasks.map((t) => t.duration));
    await page.screenshot({ path: join(SHOTS, 'webgpu-training.png'), fullPage: true });
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

test('A hardware WebGPU adapter: left to choose, the page loads the build with WebGPU and trains on it', { timeout: 420_000 }, async () => {
  const context = await launch({ webgpu: true });
  try {
    // SwiftShader's adapter, passed off as hardware: what a browser with a GPU reports.
    await context.addInitScript(() => {
      for (const proto of [globalThis.GPUAdapter?.prototype, globalThis.GPUAdapterInfo?.prototype]) {
        if (proto) Object.defineProperty(proto, 'isFallbackAdapter', { get: () => false, configurable: true });
      }
    });
    const fetched = server.requests.length;
    const page = await openPage(context, server.url + '?pretrained=0');
    await waitReady(page, 180_000);
    const label = await byTestId(page, 'backend').innerText();
    assert.match(label, /Backend: WebGPU \((?![^)]*fallback)[^)]+\)/, label);
    assert.deepEqual(buildsFetchedSince(fetched), ['webgpu']);
    // On a hardware adapter the dense layers keep burn's matmul kernel (the software one gets
    // the plain kernel, trained in the test above): a few steps with it lower the loss too.
    report.hardware_path_loss_first_and_after_15_steps = await lowersTheLoss(page, 15, 240_000);
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

// Reliability end-to-end tests: a page no visitor can break. Settings at and past their
// bounds on every panel (refused with a notice, or accepted and cancellable; the page never
// hangs), a diverging run (stopped with a notice, the last good model kept), Cancel during
// every long operation, twenty train/attack cycles with the wasm memory, JS heap, DOM size and
// GPU buffers measured before and after, and a WebGPU device destroyed mid-training (the page
// moves to the CPU and keeps its models). Each test checks that the trained models and their
// figures survive. Results go to target/e2e/reliability-report.json.
// DIST names the built page to serve (default dist/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SHOTS, launch, openPage, byTestId, waitReady, longTasksSince, servePage, attackRun, waitAttack, runAttack } from './browser.mjs';

const server = servePage('reliability-report.json', 'reliability');
const report = server.report;

const attr = (page, id, name) => byTestId(page, id).getAttribute(name);
const waitAttr = (page, id, name, value, timeout = 120_000) =>
  page.waitForSelector(`[data-testid="${id}"][data-${name}="${value}"]`, { timeout });

// Removes every notice, so that the next one can be told apart.
async function dismissAll(page) {
  const notices = byTestId(page, 'notice');
  while ((await notices.count()) > 0) await notices.first().locator('.dismiss').click();
}

// Waits for a notice containing `text` (a string or a RegExp) and returns its text.
async function noticeWith(page, text, timeout = 10_000) {
  const n = byTestId(page, 'notice').filter({ hasText: text }).last();
  await n.waitFor({ timeout });
  return n.innerText();
}

// The page answers a script within `ms` and its main thread is free.
async function answers(page, ms = 10_000) {
  const answered = await Promise.race([
    page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(true)))),
    new Promise((r) => setTimeout(() => r(false), ms)),
  ]);
  assert.ok(answered, `the page did not answer within ${ms} ms`);
}

// What the page shows about its models: the classifier's test accuracy and gallery verdicts,
// the autoencoder's test error.
const figures = (page) =>
  page.evaluate(() => ({
    accuracy: document.querySelector('[data-testid="test-accuracy"]')?.dataset.value ?? '',
    mse: document.querySelector('[data-testid="ae-test-mse"]')?.dataset.value ?? '',
    gallery: [...document.querySelectorAll('[data-testid="gallery-item"]')].map((e) => e.dataset.prediction).join(''),
  }));

// Presses `start`, then `cancel` from inside the page as soon as the status element `status`
// shows `progress` (faster than a round trip from the test); returns the status then.
const cancelWhen = (page, start, cancel, status, progress) =>
  page.evaluate(
    ([start, cancel, status, progress]) =>
      new Promise((resolve, reject) => {
        const element = document.querySelector(`[data-testid="${status}"]`);
        const watch = new MutationObserver(() => {
          const button = document.querySelector(`[data-testid="${cancel}"]`);
          if (element.textContent.includes(progress) && !button.disabled) {
            watch.disconnect();
            const shown = element.textContent;
            button.click();
            resolve(shown);
          }
        });
        watch.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
        document.querySelector(`[data-testid="${start}"]`).click();
        setTimeout(() => reject(new Error(`${status} never showed ${progress}`)), 60_000);
      }),
    [start, cancel, status, progress],
  );

// A page with the pretrained models installed, their figures shown and the first attack done.
async function pretrainedPage(context, query = '?backend=cpu') {
  const page = await openPage(context, server.url + query);
  await waitReady(page, 300_000);
  await waitAttack(page, null, 300_000);
  await page.waitForFunction(() => document.querySelector('[data-testid="test-accuracy"]')?.dataset.value);
  await page.waitForFunction(() => document.querySelector('[data-testid="ae-test-mse"]')?.dataset.value);
  return page;
}

// Fills `value` into the field `id`, presses `button`, and expects a notice naming `expect`
// while nothing starts; puts the old value back.
async function refused(page, { id, value, button, expect, state }) {
  const field = byTestId(page, id);
  const old = await field.inputValue();
  await dismissAll(page);
  await field.fill(value);
  await byTestId(page, button).click();
  const text = await noticeWith(page, expect);
  if (state) assert.notEqual(await attr(page, state, 'data-state'), 'running', `${id} = ${value} started a run`);
  await field.fill(old);
  return text;
}

test('settings at and past their bounds: refused with a notice or cancellable; no hang; models survive', { timeout: 900_000 }, async () => {
  const context = await launch();
  try {
    const page = await pretrainedPage(context, '');
    // Without WebGPU the page says so and runs on the CPU.
    assert.match(await byTestId(page, 'backend').innerText(), /CPU \(WebGPU unavailable: .+\)/);
    assert.equal(await attr(page, 'backend', 'data-kind'), 'cpu');
    const kept = await figures(page);
    const messages = {};

    // Each field states as its min and max the bounds its reader checks.
    for (const [id, min, max] of [
      ['epochs', '1', '200'], ['learning-rate', '0.000001', '1'], ['seed', '0', '4294967295'],
      ['ema-decay', '0', '0.9999'], ['attack-eps', '0', '28'], ['attack-steps', '1', '1000'],
      ['toy-lr', '0.000001', '1'], ['toy-epochs', '1', '2000'], ['toy-noise', '0', '0.5'],
    ]) {
      assert.deepEqual([await attr(page, id, 'min'), await attr(page, id, 'max')], [min, max], id);
    }
    const train = { button: 'train-start', state: 'train-state' };
    for (const [id, value, expect] of [
      ['epochs', '0', 'epochs must be between 1 and 200'],
      ['epochs', '201', 'epochs must be between 1 and 200'],
      ['epochs', '1e9', 'epochs must be between 1 and 200, not 1e9'],
      // Refused as typed, not as the largest integer the parse would saturate to.
      ['epochs', '1e300', 'epochs must be between 1 and 200, not 1e300.'],
      ['epochs', '-3', 'epochs must be a whole number'],
      ['epochs', '2.5', 'epochs must be a whole number'],
      ['batch-size', '0', 'batch size must be between 1 and 4096'],
      ['batch-size', '4097', 'batch size must be between 1 and 4096'],
      ['learning-rate', '0', 'learning rate must be between'],
      ['learning-rate', '0.0000009', 'learning rate must be between'],
      ['learning-rate', '1.01', 'learning rate must be between'],
      ['learning-rate', '50', 'learning rate must be between'],
      ['learning-rate', '1e300', 'learning rate must be between 0.000001 and 1, not 1e300.'],
      ['learning-rate', '', 'learning rate must be a number'],
      ['augment-shift', '5', 'max shift must be between 0 and 4'],
      ['ema-decay', '1', 'weight averaging must be between 0 and 0.9999, not 1.'],
      ['seed', '-1', 'seed must be a whole number'],
      ['seed', '5000000000', 'seed must be between 0 and 4294967295, not 5000000000.'],
    ]) {
      messages[`train ${id}=${value}`] = await refused(page, { ...train, id, value, expect });
    }
    const ae = { button: 'ae-train-start', state: 'ae-state' };
    for (const [id, value, expect] of [
      ['ae-epochs', '0', 'epochs'],
      ['ae-epochs', '201', 'epochs'],
      ['latent-k', '1', 'latent'],
      ['latent-k', '65', 'latent'],
      ['latent-k', '2.5', 'whole number'],
    ]) {
      messages[`autoencoder ${id}=${value}`] = await refused(page, { ...ae, id, value, expect: new RegExp(`Cannot train the autoencoder: .*${expect}`) });
    }
    const attack = { button: 'attack-run' };
    for (const [id, value, expect] of [
      ['attack-eps', '0', 'eps must be a positive number'],
      ['attack-eps', '-1', 'eps must be a positive number'],
      ['attack-step', '0', 'step size must be a positive number'],
      ['attack-steps', '0', 'steps must be between 1 and 1000, not 0'],
      ['attack-steps', '1001', 'steps must be between 1 and 1000'],
      ['attack-steps', '1e30', 'steps must be between 1 and 1000, not 1e30'],
      ['attack-steps', '2.5', 'steps must be a whole number'],
      ['attack-search', '0', 'search radius must be positive'],
      ['attack-eps', '1e39', 'eps must be a finite number'],
    ]) {
      messages[`attack ${id}=${value}`] = await refused(page, { ...attack, id, value, expect: new RegExp(`Cannot attack: .*${expect}`) });
    }
    await byTestId(page, 'attack-norm').selectOption('linf');
    messages['attack L∞ eps=2'] = await refused(page, { ...attack, id: 'attack-eps', value: '2', expect: 'L∞ eps above 1' });
    await byTestId(page, 'attack-norm').selectOption('l2');
    const toy = { button: 'toy-train-start', state: 'toy-state' };
    // The paper's world has its own five points; a line of points takes a count (up to the
    // runs at the bounds below, which then train on all 400).
    await byTestId(page, 'toy-world').selectOption('line');
    for (const [id, value, expect] of [
      ['toy-count', '1', 'points must be between 2 and 400, not 1.'],
      ['toy-count', '401', 'points must be between 2 and 400, not 401.'],
      ['toy-count', '12.5', 'points must be a whole number, not 12.5.'],
      ['toy-noise', '0.6', 'noise must be between 0 and 0.5, not 0.6.'],
      ['toy-noise', '1e300', 'noise must be a finite number, not 1e300.'],
      ['toy-width', '0', 'width must be between 1 and 1024, not 0.'],
      ['toy-width', '1025', 'width must be between 1 and 1024, not 1025.'],
      ['toy-depth', '9', 'depth must be between 0 and 8, not 9.'],
      ['toy-lr', '0', 'learning rate must be between 0.000001 and 1, not 0.'],
      ['toy-lr', '2', 'learning rate must be between 0.000001 and 1, not 2.'],
      ['toy-input-scale', '101', 'initial scale must be between 0.01 and 100, not 101.'],
      ['toy-epochs', '0', 'epochs must be between 1 and 2000, not 0.'],
      ['toy-epochs', '2001', 'epochs must be between 1 and 2000, not 2001.'],
      ['toy-epochs', '1e300', 'epochs must be between 1 and 2000, not 1e300.'],
      ['toy-seed', '-1', 'seed must be a whole number, not -1.'],
      ['toy-seed', '5000000000', 'seed must be between 0 and 4294967295, not 5000000000.'],
    ]) {
      messages[`toy ${id}=${value}`] = await refused(page, { ...toy, id, value, expect });
    }
    // Each alone within bounds, together too large: the network a toy epoch could not measure
    // without freezing the page.
    await byTestId(page, 'toy-depth').fill('8');
    messages['toy width=194 at depth 8'] = await refused(page, { ...toy, id: 'toy-width', value: '194', expect: 'too large for the page' });
    await byTestId(page, 'toy-depth').fill('2');
    messages['toy width=513 at depth 2'] = await refused(page, { ...toy, id: 'toy-width', value: '513', expect: 'too large for the page' });
    await byTestId(page, 'toy-depth').fill('1');
    report.refused = Object.keys(messages).length;
    await answers(page);
    assert.deepEqual(await figures(page), kept, 'a refused setting changed a model');

    // At the bounds every setting is accepted: the run starts, the page keeps answering, and
    // Cancel (pressed once the run has taken a few steps, long before an epoch ends) stops it
    // with the models as they were.
    const worst = {};
    const cancelledAt = {};
    const acceptedThenCancelled = async (name, fields, { start, state, cancel, steps }) => {
      const olds = [];
      for (const [id, value] of fields) {
        olds.push([id, await byTestId(page, id).inputValue()]);
        await byTestId(page, id).fill(value);
      }
      await dismissAll(page);
      const t0 = await page.evaluate(() => performance.now());
      await byTestId(page, start).click();
      await waitAttr(page, state, 'state', 'running', 30_000);
      await page.waitForFunction(steps, null, { timeout: 120_000 });
      await answers(page);
      const t1 = await page.evaluate(() => performance.now());
      await byTestId(page, cancel).click();
      await waitAttr(page, state, 'state', 'cancelled', 120_000);
      cancelledAt[name] = Math.round((await page.evaluate(() => performance.now())) - t1);
      const tasks = await longTasksSince(page, t0);
      worst[name] = Math.max(0, ...tasks.map((t) => t.duration));
      assert.equal(await byTestId(page, 'notice').count(), 0, `${name}: ${await byTestId(page, 'notice').allInnerTexts()}`);
      assert.deepEqual(await figures(page), kept, `${name} changed a model`);
      for (const [id, value] of olds) await byTestId(page, id).fill(value);
    };
    const classifier = {
      start: 'train-start',
      state: 'train-state',
      cancel: 'train-cancel',
      steps: () => Number(document.querySelector('[data-testid="train-step"]')?.dataset.done) >= 3,
    };
    await acceptedThenCancelled(
      'train: 200 epochs, batch 1, lr 1e-6, shift 4, averaging 0.9999',
      [['epochs', '200'], ['batch-size', '1'], ['learning-rate', '0.000001'], ['augment-shift', '4'], ['ema-decay', '0.9999']],
      classifier,
    );
    const autoencoder = {
      start: 'ae-train-start',
      state: 'ae-state',
      cancel: 'ae-train-cancel',
      steps: () => Number(document.querySelector('[data-testid="ae-loss"]')?.dataset.value) > 0,
    };
    await acceptedThenCancelled('autoencoder: k 64, 200 epochs', [['latent-k', '64'], ['ae-epochs', '200']], autoencoder);
    await acceptedThenCancelled('autoencoder: k 2', [['latent-k', '2']], autoencoder);
    // The largest toy networks the page allows: each epoch measures the network over the whole
    // view (81² points, 26³ in 3-D), about a second's work in 3-D here.
    const toyRun = {
      start: 'toy-train-start',
      state: 'toy-state',
      cancel: 'toy-cancel',
      steps: () => /Epoch [1-9]/.test(document.querySelector('[data-testid="toy-state"]').textContent),
    };
    await acceptedThenCancelled(
      'toy: 400 points, width 193, depth 8, 2000 epochs, lr 1, scale 100',
      [['toy-count', '400'], ['toy-width', '193'], ['toy-depth', '8'], ['toy-epochs', '2000'], ['toy-lr', '1'], ['toy-input-scale', '100']],
      toyRun,
    );
    await acceptedThenCancelled('toy: width 1024, depth 1', [['toy-width', '1024'], ['toy-depth', '1'], ['toy-epochs', '2000']], toyRun);
    await byTestId(page, 'toy-world').selectOption('sheet');
    await acceptedThenCancelled('toy: 3-D sheet, width 512, depth 2', [['toy-width', '512'], ['toy-depth', '2'], ['toy-epochs', '2000']], toyRun);
    await byTestId(page, 'toy-world').selectOption('paper');
    report.worst_long_task_ms_at_bounds = worst;
    report.cancel_took_ms_at_bounds = cancelledAt;
    // Even the largest toy networks measure their view in paced chunks: no task freezes the page.
    for (const [name, ms] of Object.entries(worst).filter(([name]) => name.startsWith('toy'))) {
      assert.ok(ms < 200, `${name}: a main-thread task ran ${ms} ms`);
    }

    // The CNN on batches of 4096 (three steps an epoch here) finishes its epoch: the page then
    // shows the new model's figures, whatever they are.
    await byTestId(page, 'model-select').selectOption('cnn');
    await byTestId(page, 'epochs').fill('1');
    await byTestId(page, 'batch-size').fill('4096');
    const big = await page.evaluate(() => performance.now());
    await byTestId(page, 'train-start').click();
    await waitAttr(page, 'train-state', 'state', 'finished', 300_000);
    worst['train: the CNN, batch 4096'] = Math.max(0, ...(await longTasksSince(page, big)).map((t) => t.duration));
    kept.accuracy = await attr(page, 'test-accuracy', 'data-value');
    kept.gallery = (await figures(page)).gallery;
    assert.ok(Number(kept.accuracy) >= 0 && Number(kept.accuracy) <= 100);
    await byTestId(page, 'model-select').selectOption('mlp');
    await byTestId(page, 'batch-size').fill('64');

    // An attack at its largest settings: radii beyond the largest L2 distance between two
    // images (28) are clamped to it with a notice, and it runs to the end with finite results.
    await dismissAll(page);
    await byTestId(page, 'attack-eps').fill('1000');
    await byTestId(page, 'attack-step').fill('1000');
    await byTestId(page, 'attack-steps').fill('1000');
    await byTestId(page, 'attack-search').fill('1000');
    const t0 = await page.evaluate(() => performance.now());
    await runAttack(page, 300_000);
    const tasks = await longTasksSince(page, t0);
    worst['attack: eps, step and search 1000, 1000 steps'] = Math.max(0, ...tasks.map((t) => t.duration));
    messages['attack eps=1000'] = await noticeWith(page, /^eps 1000 is more than the largest L2 distance between two images \(28\); the attack uses 28/);
    messages['attack search=1000'] = await noticeWith(page, /^The search radius 1000 is more than/);
    const views = await page.evaluate(() =>
      [...document.querySelectorAll('[data-testid^="view-"]')].map((v) => [v.dataset.testid, Number(v.dataset.l2), Number(v.dataset.confidence)]),
    );
    for (const [id, l2, confidence] of views) {
      assert.ok(Number.isFinite(l2) && l2 <= 28.0001 && Number.isFinite(confidence), `${id}: L2 ${l2}, confidence ${confidence}`);
    }
    assert.ok(Number(await attr(page, 'manifold-fraction', 'data-value')) <= 1.0001);

    assert.deepEqual(await figures(page), kept, 'the models changed');
    report.notices = messages;
    await page.screenshot({ path: join(SHOTS, 'reliability-bounds.png'), fullPage: true });
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

test('a diverging run is stopped with a notice; the last good model and its figures are kept', { timeout: 600_000 }, async () => {
  const context = await launch();
  try {
    const page = await pretrainedPage(context);
    const kept = await figures(page);
    // Adam at the largest rate the page allows, with nothing to soften it.
    await byTestId(page, 'epochs').fill('3');
    await byTestId(page, 'learning-rate').fill('1');
    await byTestId(page, 'lr-schedule').selectOption('constant');
    await byTestId(page, 'ema-decay').fill('0');
    await dismissAll(page);
    await byTestId(page, 'train-start').click();
    await waitAttr(page, 'train-state', 'state', 'failed', 120_000);
    const text = await noticeWith(page, 'Training diverged');
    report.diverged_notice = text;
    assert.match(text, /the loss became [\d.e+]+|the loss became (NaN|inf)/);
    assert.match(await byTestId(page, 'train-state').innerText(), /Stopped by an error/);
    assert.deepEqual(await figures(page), kept, 'the diverged run replaced the model');
    report.diverged_at_step = Number(await attr(page, 'train-step', 'data-done'));
    assert.ok(report.diverged_at_step < 200, `stopped only after ${report.diverged_at_step} steps`);
    // The kept model still attacks as before.
    await runAttack(page);

    // The toy world at its most aggressive settings: it trains to the end with finite numbers,
    // or stops with a notice and keeps the epochs before.
    await byTestId(page, 'toy-lr').fill('1');
    await byTestId(page, 'toy-input-scale').fill('100');
    await byTestId(page, 'toy-epochs').fill('300');
    await dismissAll(page);
    await byTestId(page, 'toy-train-start').click();
    await page.waitForFunction(
      () => ['finished', 'failed'].includes(document.querySelector('[data-testid="toy-state"]').dataset.state),
      null,
      { timeout: 300_000 },
    );
    report.toy_at_lr_1_scale_100 = await attr(page, 'toy-state', 'data-state');
    if (report.toy_at_lr_1_scale_100 === 'failed') await noticeWith(page, 'Toy training stopped');
    const phase = await byTestId(page, 'toy-phase').evaluate((e) => ({ ...e.dataset }));
    for (const [name, list] of Object.entries(phase)) {
      if (!list.includes(',')) continue;
      assert.ok(list.split(',').every((v) => Number.isFinite(Number(v))), `toy ${name}: ${list.slice(0, 80)}`);
    }
    assert.deepEqual(await figures(page), kept);
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

test('Cancel during every long operation leaves the page usable and the models as they were', { timeout: 900_000 }, async () => {
  const context = await launch();
  try {
    const page = await pretrainedPage(context);
    const kept = await figures(page);
    const cancelled = {};

    // Classifier training, in its first epoch.
    await byTestId(page, 'epochs').fill('2');
    await byTestId(page, 'train-start').click();
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="train-step"]')?.dataset.done) >= 10);
    await byTestId(page, 'train-cancel').click();
    await waitAttr(page, 'train-state', 'state', 'cancelled', 10_000);
    cancelled.classifier = await byTestId(page, 'train-state').innerText();

    // Autoencoder training.
    await byTestId(page, 'ae-epochs').fill('2');
    await byTestId(page, 'ae-train-start').click();
    await waitAttr(page, 'ae-state', 'state', 'running', 10_000);
    await page.waitForTimeout(1000);
    await byTestId(page, 'ae-train-cancel').click();
    await waitAttr(page, 'ae-state', 'state', 'cancelled', 10_000);
    cancelled.autoencoder = await byTestId(page, 'ae-state').innerText();
    assert.deepEqual(await figures(page), kept, 'a cancelled run replaced a model');

    // The attack, during PGD (1000 steps of four attacks, half a second on the CPU: Cancel is
    // pressed from inside the page as soon as PGD shows progress).
    const lastRun = await attackRun(page);
    await byTestId(page, 'attack-steps').fill('1000');
    await dismissAll(page);
    cancelled.attack_pressed_at = await cancelWhen(page, 'attack-run', 'attack-cancel', 'attack-status', 'Running PGD: step');
    await waitAttr(page, 'attack-status', 'busy', 'false', 10_000);
    cancelled.attack = await noticeWith(page, 'attack was cancelled');
    assert.equal(await attackRun(page), lastRun, 'the results of the last attack are kept');
    await byTestId(page, 'attack-steps').fill('200');

    // The plane through the image, at its finest resolution.
    await byTestId(page, 'slice-resolution').fill('128');
    cancelled.slice_pressed_at = await cancelWhen(page, 'slice-redraw', 'slice-cancel', 'slice-status', 'Computing the slice: row');
    await waitAttr(page, 'slice-status', 'busy', 'false', 10_000);
    assert.equal(await byTestId(page, 'slice-plot').count(), 1, 'the last map stays');
    cancelled.slice = await byTestId(page, 'slice-status').innerText();
    await byTestId(page, 'slice-resolution').fill('48');

    // A toy world.
    await byTestId(page, 'toy-epochs').fill('2000');
    await byTestId(page, 'toy-train-start').click();
    await page.waitForFunction(() => /Epoch [1-9]/.test(document.querySelector('[data-testid="toy-state"]').textContent));
    await byTestId(page, 'toy-cancel').click();
    await waitAttr(page, 'toy-state', 'state', 'cancelled', 10_000);
    cancelled.toy = await byTestId(page, 'toy-state').innerText();

    // An experiment, where the page has the experiments panel.
    if ((await byTestId(page, 'exp-cancel').count()) > 0) {
      await byTestId(page, 'exp-dynamics-run').click();
      await waitAttr(page, 'exp-status', 'state', 'running', 10_000);
      await page.waitForTimeout(1000);
      await byTestId(page, 'exp-cancel').click();
      await waitAttr(page, 'exp-status', 'state', 'idle', 60_000);
      cancelled.experiment = await byTestId(page, 'exp-status').innerText();
    }
    report.cancelled = cancelled;

    // Everything still works: the models are the same and attack and train as before.
    assert.deepEqual(await figures(page), kept);
    await runAttack(page);
    await byTestId(page, 'epochs').fill('1');
    await byTestId(page, 'train-start').click();
    await waitAttr(page, 'train-state', 'state', 'finished', 300_000);
    assert.ok(Number(await attr(page, 'test-accuracy', 'data-value')) > 85);
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

// Installs counters of the GPU buffers the page creates and destroys, and keeps the wasm
// memory (from Trunk's start event) where a test can read it.
async function instrument(context) {
  await context.addInitScript(() => {
    // A buffer is gone when destroyed or when garbage-collected (wgpu drops its handle).
    const gpu = (window.__gpu = { created: 0, gone: 0, bytes: 0, devices: [] });
    addEventListener('TrunkApplicationStarted', (e) => (window.__wasmMemory = e.detail.wasm.memory));
    if (globalThis.GPUDevice) {
      const live = new WeakMap();
      const release = (size) => {
        gpu.gone += 1;
        gpu.bytes -= size;
      };
      const collected = new FinalizationRegistry((token) => {
        if (!token.released) release(token.size);
      });
      const createBuffer = GPUDevice.prototype.createBuffer;
      GPUDevice.prototype.createBuffer = function (descriptor, ...rest) {
        const buffer = createBuffer.call(this, descriptor, ...rest);
        const token = { size: Number(descriptor.size), released: false };
        gpu.created += 1;
        gpu.bytes += token.size;
        live.set(buffer, token);
        collected.register(buffer, token);
        return buffer;
      };
      const destroy = GPUBuffer.prototype.destroy;
      GPUBuffer.prototype.destroy = function (...args) {
        const token = live.get(this);
        if (token && !token.released) {
          token.released = true;
          release(token.size);
        }
        return destroy.apply(this, args);
      };
      const requestDevice = GPUAdapter.prototype.requestDevice;
      GPUAdapter.prototype.requestDevice = async function (...args) {
        const device = await requestDevice.apply(this, args);
        window.__gpu.devices.push(device);
        return device;
      };
    }
  });
}

// Memory figures after a forced garbage collection.
async function memory(page, cdp) {
  await cdp.send('HeapProfiler.collectGarbage');
  // Finalisers of collected GPU buffers run after the collection.
  await page.waitForTimeout(200);
  await cdp.send('HeapProfiler.collectGarbage');
  const { usedSize } = await cdp.send('Runtime.getHeapUsage');
  const { metrics } = await cdp.send('Performance.getMetrics');
  const metric = (name) => metrics.find((m) => m.name === name)?.value;
  const page_ = await page.evaluate(() => ({
    wasm: window.__wasmMemory?.buffer.byteLength ?? null,
    gpu_live: window.__gpu.created - window.__gpu.gone,
    gpu_live_bytes: window.__gpu.bytes,
    gpu_created: window.__gpu.created,
  }));
  return { ...page_, js_heap: usedSize, dom_nodes: metric('Nodes'), listeners: metric('JSEventListeners') };
}

const MiB = 1 << 20;

test('twenty train/attack cycles: wasm memory, JS heap and DOM do not grow', { timeout: 900_000 }, async () => {
  const context = await launch();
  await instrument(context);
  try {
    const page = await pretrainedPage(context);
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    await byTestId(page, 'epochs').fill('1');
    await byTestId(page, 'attack-steps').fill('50');
    const samples = [await memory(page, cdp)];
    for (let cycle = 1; cycle <= 20; cycle++) {
      await byTestId(page, 'train-start').click();
      await waitAttr(page, 'train-state', 'state', 'finished', 300_000);
      await byTestId(page, 'random-digit').click();
      await runAttack(page);
      samples.push(await memory(page, cdp));
    }
    report.cpu_cycles = { before: samples[0], after_3: samples[3], after_20: samples[20], wasm_mib: samples.map((s) => +(s.wasm / MiB).toFixed(1)) };
    console.log('memory over 20 cycles (CPU):', JSON.stringify(report.cpu_cycles));
    const [third, last] = [samples[3], samples[20]];
    // After the first cycles have sized the allocator's pools, seventeen more add nothing
    // (the bound allows for allocator slack, not for a leak of one model or one epoch a cycle).
    assert.ok(last.wasm - third.wasm <= 16 * MiB, `wasm memory grew ${(last.wasm - third.wasm) / MiB} MiB after cycle 3`);
    assert.ok(last.js_heap - third.js_heap <= 4 * MiB, `JS heap grew ${(last.js_heap - third.js_heap) / MiB} MiB after cycle 3`);
    assert.ok(last.dom_nodes - third.dom_nodes <= 200, `DOM grew ${last.dom_nodes - third.dom_nodes} nodes after cycle 3`);
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

test('WebGPU: cycles keep the GPU buffers bounded; a device destroyed mid-training moves the page to the CPU with its models', { timeout: 900_000 }, async () => {
  const context = await launch({ webgpu: true });
  await instrument(context);
  const logs = [];
  context.on('console', (m) => logs.push(m.text()));
  try {
    const page = await pretrainedPage(context, '?backend=webgpu');
    assert.match(await byTestId(page, 'backend').innerText(), /WebGPU/);
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');

    // Short cycles on SwiftShader: a few training steps, then a 20-step attack.
    await byTestId(page, 'epochs').fill('1');
    await byTestId(page, 'attack-steps').fill('20');
    const samples = [await memory(page, cdp)];
    const CYCLES = Number(process.env.GPU_CYCLES ?? 6);
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      await byTestId(page, 'train-start').click();
      await page.waitForFunction(() => Number(document.querySelector('[data-testid="train-step"]')?.dataset.done) >= 3, null, {
        timeout: 300_000,
      });
      await byTestId(page, 'train-cancel').click();
      await waitAttr(page, 'train-state', 'state', 'cancelled', 120_000);
      await runAttack(page, 300_000);
      samples.push(await memory(page, cdp));
    }
    report.webgpu_cycles = { cycles: CYCLES, samples };
    console.log('memory over WebGPU cycles:', JSON.stringify(samples));
    const [second, last] = [samples[2], samples[CYCLES]];
    // cubecl pools its buffers; wgpu drops the handles of those it frees and the browser
    // collects them. Live buffers and bytes stay at the level of the second cycle.
    assert.ok(last.gpu_live - second.gpu_live <= 16, `live GPU buffers ${second.gpu_live} -> ${last.gpu_live}`);
    assert.ok(
      last.gpu_live_bytes - second.gpu_live_bytes <= 16 * MiB,
      `live GPU bytes ${second.gpu_live_bytes / MiB} -> ${last.gpu_live_bytes / MiB} MiB`,
    );
    assert.ok(last.wasm - second.wasm <= 16 * MiB, `wasm memory grew ${(last.wasm - second.wasm) / MiB} MiB`);
    assert.deepEqual(page.errors, []);

    // The device goes away in the middle of a training run, once the page has host copies
    // of its models.
    const copied = (role) => logs.some((l) => l.includes(`kept a host copy of the ${role}`));
    for (let t = 0; !(copied('classifier') && copied('autoencoder')); t++) {
      assert.ok(t < 600, 'the page kept no host copy of its models');
      await page.waitForTimeout(100);
    }
    const kept = await figures(page);
    await dismissAll(page);
    await byTestId(page, 'epochs').fill('2');
    await byTestId(page, 'train-start').click();
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="train-step"]')?.dataset.done) >= 3, null, {
      timeout: 300_000,
    });
    const destroyed = await page.evaluate(() => {
      window.__gpu.devices.forEach((d) => d.destroy());
      return window.__gpu.devices.length;
    });
    assert.ok(destroyed >= 1);
    const notice = await noticeWith(page, 'The GPU stopped working', 60_000);
    report.device_lost_notice = notice;
    await page.waitForFunction(() => !['running', 'paused'].includes(document.querySelector('[data-testid="train-state"]').dataset.state), null, {
      timeout: 60_000,
    });
    report.device_lost_train_state = await attr(page, 'train-state', 'data-state');
    assert.equal(await attr(page, 'backend', 'data-kind'), 'cpu');
    assert.match(await byTestId(page, 'backend').innerText(), /CPU \(the WebGPU device was lost/);
    assert.match(notice, /the classifier and the autoencoder came back/);
    assert.deepEqual(await figures(page), kept, 'the figures of the kept models changed');
    await answers(page);

    // On the CPU now: the kept models attack, and training works again.
    await runAttack(page);
    await byTestId(page, 'train-start').click();
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="train-step"]')?.dataset.done) >= 20, null, {
      timeout: 120_000,
    });
    await byTestId(page, 'train-cancel').click();
    await waitAttr(page, 'train-state', 'state', 'cancelled', 30_000);
    assert.deepEqual(await figures(page), kept);
    // What the browser logged when the device went away (wgpu reports the lost device).
    report.device_lost_console_errors = page.errors.slice(0, 10);
    await page.screenshot({ path: join(SHOTS, 'reliability-device-lost.png'), fullPage: true });
  } finally {
    await context.close();
  }
});

// End-to-end test of the plane through an attacked image on the CPU backend: train the
// classifier and the autoencoder briefly, attack a digit, and check the class map, its
// legends, the margin profiles and the crossings; then another plane, a bad setting, the CNN
// and a phone-width screen. Any console error fails the test. DIST names the built page
// (default dist/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SHOTS, launch, openPage, byTestId, waitReady, longTasksSince, servePage, runAttack, l2Attack, correctDigits, trainModels } from './browser.mjs';

const server = servePage('slice-report.json', 'slice');
const report = server.report;

const attr = (page, id, name) => byTestId(page, id).getAttribute(name);
const notice = (page, text) => byTestId(page, 'notice').filter({ hasText: text }).waitFor({ timeout: 5000 });

// Waits until the slice of attack `run` over the plane `axes` is drawn and nothing computes.
async function waitSlice(page, run, axes) {
  await page.waitForFunction(
    ([run, axes]) => {
      const plot = document.querySelector('[data-testid="slice-plot"]');
      const status = document.querySelector('[data-testid="slice-status"]');
      return plot && plot.dataset.run === run && plot.dataset.axes === axes && status.dataset.busy === 'false';
    },
    [run, axes],
    { timeout: 120_000 },
  );
}

// The colours that each cover at least 1% of the canvas `id` (anti-aliased edges do not).
const mainColours = (page, id) =>
  page.evaluate((id) => {
    const c = document.querySelector(`[data-testid="${id}"]`);
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const counts = new Map();
    for (let i = 0; i < data.length; i += 4) {
      const key = `${data[i]},${data[i + 1]},${data[i + 2]}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const pixels = data.length / 4;
    return [...counts].filter(([, n]) => n >= 0.01 * pixels).map(([k]) => k);
  }, id);

// What the slice shows, read from the page.
async function readSlice(page) {
  const crossings = byTestId(page, 'slice-crossings');
  const get = async (name) => {
    const v = await crossings.getAttribute(name);
    return v === '' ? null : Number(v);
  };
  return {
    classes: (await attr(page, 'slice-plot', 'data-classes')).split(',').map(Number),
    class: Number(await attr(page, 'slice-plot', 'data-class')),
    legend: await byTestId(page, 'slice-classes').locator('li').count(),
    crossing1: await get('data-crossing-1'),
    crossing2: await get('data-crossing-2'),
    range1: Number(await crossings.getAttribute('data-range-1')),
    range2: Number(await crossings.getAttribute('data-range-2')),
    text: await crossings.innerText(),
    ms: Number(await attr(page, 'slice-status', 'data-ms')),
    status: await byTestId(page, 'slice-status').innerText(),
    colours: (await mainColours(page, 'slice-plot')).length,
    profileColours: (await mainColours(page, 'slice-profile')).length,
  };
}

test('image slice: the plane through an attacked digit, its boundary and profiles', { timeout: 900_000 }, async () => {
  const context = await launch();
  try {
    const page = await openPage(context, server.url + '?backend=cpu&pretrained=0');
    await waitReady(page);

    // Before any attack the panel says what to do, and nothing is drawn.
    assert.match(await byTestId(page, 'slice-status').innerText(), /Run an attack above to see the plane through its image/);
    assert.equal(await byTestId(page, 'slice-plot').count(), 0);
    assert.ok(await byTestId(page, 'slice-redraw').isDisabled());

    // Train both models briefly.
    await trainModels(page, { aeEpochs: 2 });

    // The views test's settings: a plain L2 attack within eps 2.
    await l2Attack(page);

    // Attack correctly classified digits until the off-manifold part of d alone changes the
    // class: then the class must change along the off-manifold axis within ||off|| <= 2.
    const candidates = await correctDigits(page);
    let run = null;
    const tries = [];
    for (const digit of candidates) {
      await byTestId(page, 'gallery-pick').nth(digit.i).click();
      run = await runAttack(page);
      const t0 = await page.evaluate(() => performance.now());
      await waitSlice(page, run, 'on-off');
      const tasks = await longTasksSince(page, t0);
      const original = await attr(page, 'view-original', 'data-class');
      const off = await attr(page, 'view-off-manifold', 'data-class');
      const offL2 = Number(await attr(page, 'view-off-manifold', 'data-l2'));
      const s = await readSlice(page);
      tries.push({ digit: digit.i, original, off, offL2, crossing1: s.crossing1, crossing2: s.crossing2, ms: s.ms, worst_task_ms: Math.max(0, ...tasks.map((t) => t.duration)) });
      if (off !== original) {
        report.mlp = { digit: digit.i, off_l2: offL2, ...s };
        break;
      }
    }
    report.tries = tries;
    assert.ok(report.mlp, `no digit's off-manifold part changed its class: ${JSON.stringify(tries)}`);
    const mlp = report.mlp;
    console.log(`64x64 slice, MLP, browser CPU: ${mlp.ms} ms (${mlp.status})`);

    // The map: several colours, at least two classes in the data and the legend, x's class
    // among them; the profile chart is drawn.
    assert.equal(mlp.class, Number(await attr(page, 'view-original', 'data-class')));
    assert.ok(mlp.colours >= 3, `the map has ${mlp.colours} main colours`);
    assert.ok(mlp.classes.length >= 2 && mlp.classes.includes(mlp.class), `classes ${mlp.classes}`);
    assert.equal(mlp.legend, mlp.classes.length);
    assert.ok(mlp.profileColours >= 2, `the profile chart has ${mlp.profileColours} main colours`);
    assert.equal(await attr(page, 'slice-plot', 'data-resolution'), '64');
    // The class changes along the off-manifold axis, no further than the off-manifold part.
    assert.ok(Number.isFinite(mlp.crossing2), `no crossing along the off-manifold axis: ${mlp.text}`);
    assert.ok(Math.abs(mlp.crossing2) <= Math.min(mlp.range2, mlp.off_l2 + 0.05), `off crossing ${mlp.crossing2}`);
    assert.match(mlp.text, /along the off-manifold axis/);
    assert.ok(mlp.crossing1 === null || Number.isFinite(mlp.crossing1));
    assert.ok(mlp.ms > 0);
    assert.match(mlp.status, /64 × 64 slice of the MLP.* in \d+ ms/);
    report.mlp_worst_long_task_ms = tries.at(-1).worst_task_ms;
    await byTestId(page, 'slice-panel').screenshot({ path: join(SHOTS, 'slice-mlp-on-off.png') });

    // Another plane: d and a random direction; it redraws with its own axes.
    await byTestId(page, 'slice-axes').selectOption('d-random');
    await waitSlice(page, run, 'd-random');
    const random = await readSlice(page);
    report.mlp_d_random = random;
    assert.ok(random.colours >= 3, `the d × random map has ${random.colours} main colours`);
    assert.match(random.text, /along the attack axis/);
    assert.match(random.text, /along the random axis/);
    // x + d lies in this plane: the class changes along d before its end.
    assert.ok(Number.isFinite(random.crossing1), `no crossing along d: ${random.text}`);
    await byTestId(page, 'slice-panel').screenshot({ path: join(SHOTS, 'slice-mlp-d-random.png') });

    // Bad settings get a notice and leave the drawn slice as it was.
    await byTestId(page, 'slice-range-1').fill('-1');
    await byTestId(page, 'slice-redraw').click();
    await notice(page, 'Cannot draw the slice: the horizontal range must be above 0 and at most 28, not -1.');
    await byTestId(page, 'slice-range-1').fill('5');
    await byTestId(page, 'slice-resolution').fill('6.5');
    await byTestId(page, 'slice-redraw').click();
    await notice(page, 'Cannot draw the slice: the resolution must be a whole number, not 6.5.');
    assert.equal(await attr(page, 'slice-plot', 'data-axes'), 'd-random');

    // Narrower ranges and a coarser grid through the Redraw button.
    await byTestId(page, 'slice-resolution').fill('32');
    await byTestId(page, 'slice-range-2').fill('3');
    await byTestId(page, 'slice-axes').selectOption('on-off');
    await waitSlice(page, run, 'on-off');
    await page.waitForFunction(() => document.querySelector('[data-testid="slice-plot"]').dataset.resolution === '32');
    assert.equal(Number(await attr(page, 'slice-crossings', 'data-range-2')), 3);
    await byTestId(page, 'slice-resolution').fill('64');
    await byTestId(page, 'slice-range-2').fill('5');
    await byTestId(page, 'slice-redraw').click();
    await page.waitForFunction(() => {
      const plot = document.querySelector('[data-testid="slice-plot"]');
      return plot.dataset.resolution === '64' && document.querySelector('[data-testid="slice-status"]').dataset.busy === 'false';
    });
    assert.deepEqual(page.errors, []);

    // The CNN: the 64 × 64 grid runs in chunks with yields in between.
    await byTestId(page, 'model-select').selectOption('cnn');
    await byTestId(page, 'epochs').fill('1');
    await byTestId(page, 'train-start').click();
    await page.waitForSelector('[data-testid="train-state"]:not([data-state="finished"])', { timeout: 10_000 });
    await page.waitForSelector('[data-testid="train-state"][data-state="finished"]', { timeout: 600_000 });
    await byTestId(page, 'gallery-pick').nth(report.mlp.digit).click();
    run = await runAttack(page);
    const cnnStart = await page.evaluate(() => performance.now());
    await waitSlice(page, run, 'on-off');
    const cnnTasks = await longTasksSince(page, cnnStart);
    const cnn = await readSlice(page);
    report.cnn = cnn;
    report.cnn_worst_long_task_ms = Math.max(0, ...cnnTasks.map((t) => t.duration));
    console.log(`64x64 slice, CNN, browser CPU: ${cnn.ms} ms (${cnn.status}); worst task ${report.cnn_worst_long_task_ms} ms`);
    assert.match(cnn.status, /64 × 64 slice of the .*CNN.* in \d+ ms \(\d+ chunks\)/);
    assert.ok(cnn.colours >= 2, `the CNN map has ${cnn.colours} main colours`);
    assert.ok(
      report.cnn_worst_long_task_ms < 200,
      `a task ran ${report.cnn_worst_long_task_ms} ms while the CNN slice was computed`,
    );
    await byTestId(page, 'slice-panel').screenshot({ path: join(SHOTS, 'slice-cnn.png') });
    assert.deepEqual(page.errors, []);

    // A phone-width screen does not scroll sideways; the map stays square.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
    assert.ok(scroll <= client, `page is ${scroll}px wide in a ${client}px viewport`);
    const overflow = await page.evaluate(() => {
      const panel = document.querySelector('[data-testid="slice-panel"]').getBoundingClientRect();
      return [...document.querySelectorAll('[data-testid="slice-panel"] *')]
        .filter((e) => e.getBoundingClientRect().right > panel.right + 0.5)
        .map((e) => e.tagName + (e.dataset.testid ? `[${e.dataset.testid}]` : ''));
    });
    assert.deepEqual(overflow, [], 'elements stick out of the slice panel');
    const box = await byTestId(page, 'slice-plot').boundingBox();
    assert.ok(Math.abs(box.width - box.height) < 2 && box.width > 250, `map is ${box.width} × ${box.height}`);
    await byTestId(page, 'slice-panel').screenshot({ path: join(SHOTS, 'slice-narrow.png') });
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

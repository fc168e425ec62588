// End-to-end test of the experiments lab on the CPU backend: train the classifier and the
// autoencoder briefly, run the norms experiment on 10 images, check its table, plot and CSV /
// JSON exports, keep results apart per dataset, cancel a longer experiment and check that the
// page and its models are as they were. Any console error fails the test.
// DIST names the built page to serve (default: dist/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SHOTS, launch, openPage, byTestId, waitReady, longTasksSince, servePage, canvasSpread } from './browser.mjs';

const server = servePage('exp-report.json', 'experiments');
const report = server.report;

const ATTACKS = ['plain PGD', 'on-manifold restricted', 'off-manifold restricted', 'random k-subspace restricted'];

const attr = (page, id, name) => byTestId(page, id).getAttribute(name);
const waitAttr = (page, id, name, value, timeout = 600_000) =>
  page.waitForSelector(`[data-testid="${id}"][data-${name}="${value}"]`, { timeout });
const notice = (page, text) => byTestId(page, 'notice').filter({ hasText: text }).last().waitFor({ timeout: 10_000 });

// The norms table as { columns, rows: [[{ text, value }]] } (value: data-value, or null for text).
const normsTable = (page) =>
  byTestId(page, 'exp-norms-table').evaluate((t) => ({
    columns: [...t.querySelectorAll('thead th')].map((th) => th.textContent),
    rows: [...t.querySelectorAll('tbody tr')].map((tr) =>
      [...tr.querySelectorAll('td')].map((td) => ({ text: td.textContent, value: td.dataset.value ?? null })),
    ),
  }));

// Runs the norms experiment on `n` test images and waits for its result.
async function runNorms(page, n) {
  const before = await page.evaluate(() => document.querySelector('[data-testid="exp-result"]')?.dataset.run ?? null);
  await byTestId(page, 'exp-norms-images').fill(String(n));
  await byTestId(page, 'exp-norms-run').click();
  await page.waitForFunction(
    (prev) => {
      const r = document.querySelector('[data-testid="exp-result"]');
      const s = document.querySelector('[data-testid="exp-status"]');
      return r && r.dataset.experiment === 'norms' && r.dataset.run !== prev && s.dataset.state === 'idle';
    },
    before,
    { timeout: 600_000 },
  );
}

// Clicks an export button and returns the downloaded file's name and text.
async function exportAs(page, id) {
  const button = page.locator(`[data-testid="experiments-panel"] [data-testid="${id}"]`);
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 10_000 }), button.click()]);
  const path = await download.path();
  return { name: download.suggestedFilename(), text: await readFile(path, 'utf8') };
}

test('experiments lab: norms on 10 images, exports, datasets, cancel', { timeout: 900_000 }, async () => {
  const context = await launch();
  try {
    const page = await openPage(context, server.url + '?backend=cpu&pretrained=0');
    await waitReady(page);
    await page.waitForSelector('[data-testid="exp-norms-run"]:not([disabled])');
    assert.equal(await attr(page, 'exp-status', 'data-state'), 'idle');
    assert.equal(await attr(page, 'exp-progress', 'role'), 'progressbar');
    for (const name of ['norms', 'dynamics', 'advtrain', 'mislabeled', 'detect']) {
      assert.equal(await byTestId(page, `exp-${name}-run`).count(), 1, name);
    }

    // Without models the norms experiment says what to train; a bad setting is named.
    await byTestId(page, 'exp-norms-run').click();
    await notice(page, 'needs a classifier and an autoencoder');
    await byTestId(page, 'exp-norms-images').fill('0');
    await byTestId(page, 'exp-norms-run').click();
    await notice(page, 'Test images N must be between 1 and 2000, not 0.');
    assert.equal(await attr(page, 'exp-status', 'data-state'), 'idle');

    // Train both models briefly.
    await byTestId(page, 'epochs').fill('1');
    await byTestId(page, 'train-start').click();
    await waitAttr(page, 'train-state', 'state', 'finished');
    const accuracy = await attr(page, 'test-accuracy', 'data-value');
    report.classifier_test_accuracy = Number(accuracy);
    await byTestId(page, 'ae-epochs').fill('2');
    await byTestId(page, 'ae-train-start').click();
    await waitAttr(page, 'ae-state', 'state', 'finished');

    // The norms experiment on 10 images: one row per attack, with numbers.
    const t0 = await page.evaluate(() => performance.now());
    await runNorms(page, 10);
    const tasks = await longTasksSince(page, t0);
    report.norms_10_worst_long_task_ms = Math.max(0, ...tasks.map((t) => t.duration));
    report.norms_10_long_tasks = tasks.map((t) => [Math.round(t.start - t0), Math.round(t.duration)]);
    report.norms_10_wall_s = (await page.evaluate(() => performance.now()) - t0) / 1000;
    assert.equal(await attr(page, 'exp-progress', 'aria-valuenow'), '100');
    const table = await normsTable(page);
    assert.equal(table.rows.length, 4);
    assert.deepEqual(table.rows.map((r) => r[0].text), ATTACKS);
    const col = (name) => table.columns.indexOf(name);
    for (const name of ['attacked', 'flipped', 'mean', 'median', 'reproduction mean']) {
      assert.ok(col(name) >= 0, `no column ${name}: ${table.columns}`);
    }
    const attacked = Number(table.rows[0][col('attacked')].value);
    assert.ok(attacked >= 8 && attacked <= 10, `attacked ${attacked} of 10`);
    for (const row of table.rows) {
      assert.equal(Number(row[col('attacked')].value), attacked, row[0].text);
      const flipped = Number(row[col('flipped')].value);
      assert.ok(flipped >= 0 && flipped <= attacked);
      if (flipped > 0) {
        const mean = Number(row[col('mean')].value);
        assert.ok(Number.isFinite(mean) && mean > 0, `${row[0].text}: mean ${row[col('mean')].value}`);
      }
    }
    const plain = table.rows[0];
    assert.equal(Number(plain[col('flipped')].value), attacked, 'plain PGD flips every image within L2 10');
    report.norms_10 = Object.fromEntries(
      table.rows.map((r) => [r[0].text, { flipped: Number(r[col('flipped')].value), mean: r[col('mean')].text, median: r[col('median')].text, ratio: r[col('median ratio to plain')].text }]),
    );
    assert.match(await byTestId(page, 'exp-provenance').innerText(), /data: MNIST, 12000 training \/ 2000 test images; classifier: this page's MLP/);
    assert.equal(await attr(page, 'exp-result', 'data-dataset'), 'mnist');

    // The histogram is drawn, crisp at the device pixel ratio.
    const plot = await canvasSpread(page, '[data-testid="exp-plot"][data-chart="norm-histograms"]');
    assert.ok(plot.spread > 100, `the norms plot is blank: ${JSON.stringify(plot)}`);
    assert.equal(plot.width, 2 * plot.cssWidth);

    // Exports: CSV sections with the norms table first, and JSON that parses.
    const csv = await exportAs(page, 'export-csv');
    assert.match(csv.name, /^dimple-norms-mnist-run\d+\.csv$/);
    const lines = csv.text.split('\n');
    assert.match(lines[0], /^# norms: L2 norm to flip/);
    assert.match(lines[1], /^attack,attacked,flipped,/);
    for (const column of [',mean,', ',median,', ',"median, failures ∞",', ',median ratio to plain,', ',reproduction mean,']) {
      assert.ok(lines[1].includes(column), `CSV header without ${column}: ${lines[1]}`);
    }
    assert.match(lines[2], /^plain PGD,\d+,\d+,\d/);
    assert.ok(csv.text.includes('# images: Per image'), 'the per-image table is exported');
    const json = JSON.parse((await exportAs(page, 'exp-export-json')).text);
    assert.equal(json.experiment, 'norms');
    assert.match(json.settings.data, /^MNIST/);
    assert.equal(json.tables[0].rows.length, 4);

    await byTestId(page, 'experiments-panel').screenshot({ path: join(SHOTS, 'exp-norms.png') });
    assert.deepEqual(page.errors, []);

    // Results belong to their dataset: Fashion-MNIST has none (and no models), MNIST's come back.
    await byTestId(page, 'dataset-select').selectOption('fashion');
    await page.waitForFunction(() => /^Fashion-MNIST/.test(document.querySelector('[data-testid="dataset-info"]').textContent), null, {
      timeout: 60_000,
    });
    await waitReady(page);
    assert.equal(await byTestId(page, 'exp-result').count(), 0);
    await byTestId(page, 'exp-norms-run').click();
    await notice(page, 'needs a classifier and an autoencoder');
    // The mislabeled experiment trains its own models, so it runs on Fashion-MNIST as it is.
    await byTestId(page, 'exp-mislabeled-images').fill('300');
    await byTestId(page, 'exp-mislabeled-epochs').fill('1');
    await byTestId(page, 'exp-mislabeled-run').click();
    await waitAttr(page, 'exp-result', 'dataset', 'fashion', 300_000);
    assert.equal(await attr(page, 'exp-result', 'data-experiment'), 'mislabeled');
    assert.match(await byTestId(page, 'exp-provenance').innerText(), /data: Fashion-MNIST, 12000 training/);
    const fashionTable = await byTestId(page, 'exp-mislabeled-table').innerText();
    assert.match(fashionTable, /N2 test accuracy \(clean images, true labels\)\s+\d+\.\d%/);
    report.fashion_mislabeled_300 = fashionTable.split('\n').filter((l) => /accuracy|chance/.test(l));
    const bars = await canvasSpread(page, '[data-testid="exp-plot"][data-chart="accuracy"]');
    assert.ok(bars.spread > 100, 'the mislabeled bar chart is blank');
    await byTestId(page, 'experiments-panel').screenshot({ path: join(SHOTS, 'exp-fashion-mislabeled.png') });
    await byTestId(page, 'dataset-select').selectOption('mnist');
    await page.waitForFunction(() => /^MNIST/.test(document.querySelector('[data-testid="dataset-info"]').textContent), null, {
      timeout: 60_000,
    });
    await waitReady(page);
    await waitAttr(page, 'exp-result', 'dataset', 'mnist', 10_000);
    assert.equal(await attr(page, 'exp-result', 'data-experiment'), 'norms');
    assert.equal(await byTestId(page, 'exp-show-mislabeled').count(), 0, "Fashion-MNIST's result stays with Fashion-MNIST");
    assert.deepEqual((await normsTable(page)).rows, table.rows);

    // A longer experiment, cancelled while it runs: the page is idle again, the dataset can be
    // switched, and the models are untouched (the norms experiment gives the same table).
    await byTestId(page, 'exp-dynamics-run').click();
    await waitAttr(page, 'exp-status', 'state', 'running', 10_000);
    assert.equal(await byTestId(page, 'dataset-select').isDisabled(), true);
    assert.equal(await byTestId(page, 'exp-norms-run').isDisabled(), true);
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="exp-status"]').dataset.done) > 5, null, {
      timeout: 60_000,
    });
    const progress = Number(await attr(page, 'exp-progress', 'aria-valuenow'));
    assert.ok(progress >= 0 && progress < 100, `progress ${progress}`);
    // From the click event to idle: the unit of work in progress finishes first.
    await byTestId(page, 'exp-cancel').evaluate((b) => b.addEventListener('click', () => (window.__cancelAt = performance.now())));
    await byTestId(page, 'exp-cancel').click();
    const idleAt = await page.waitForFunction(
      () => document.querySelector('[data-testid="exp-status"]').dataset.state === 'idle' && performance.now(),
      null,
      { timeout: 10_000 },
    );
    report.cancel_ms = (await idleAt.jsonValue()) - (await page.evaluate(() => window.__cancelAt));
    assert.match(await byTestId(page, 'exp-status').innerText(), /^Cancelled the dynamics experiment/);
    assert.equal(await byTestId(page, 'exp-cancel').isDisabled(), true);
    assert.equal(await byTestId(page, 'dataset-select').isDisabled(), false);
    assert.equal(await attr(page, 'exp-result', 'data-experiment'), 'norms', 'the cancelled run left no result');
    assert.equal(await attr(page, 'test-accuracy', 'data-value'), accuracy);
    await runNorms(page, 10);
    assert.deepEqual((await normsTable(page)).rows, table.rows, 'same models, same images, same seed: same table');
    assert.deepEqual(page.errors, []);

    // A phone-width screen does not scroll sideways; the wide table scrolls in its own box.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
    assert.ok(scroll <= client, `page is ${scroll}px wide in a ${client}px viewport`);
    await byTestId(page, 'exp-norms').screenshot({ path: join(SHOTS, 'exp-narrow-card.png') });
    await byTestId(page, 'exp-result').screenshot({ path: join(SHOTS, 'exp-narrow-result.png') });
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

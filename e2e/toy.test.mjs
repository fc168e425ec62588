// End-to-end test of the toy worlds: train the paper's 2-D preset for 100 epochs and read the
// clinging/dimpling numbers from the page; scrub and replay the history; train a 3-D world,
// rotate it and look at its cross-section. Any console error fails the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SHOTS, launch, openPage, byTestId, waitReady, longTasksSince, servePage } from './browser.mjs';

const server = servePage('toy-report.json', 'toy');
const report = server.report;

const state = (page) => byTestId(page, 'toy-state').getAttribute('data-state');
const waitState = (page, s, timeout = 120_000) =>
  page.waitForSelector(`[data-testid="toy-state"][data-state="${s}"]`, { timeout });
const series = async (page, name) =>
  (await byTestId(page, 'toy-phase').getAttribute(name)).split(',').filter((s) => s !== '').map(Number);

// Distinct colours on a canvas (a blank or single-colour canvas has 1 or 2).
const colours = (page, id) =>
  page.evaluate((id) => {
    const c = document.querySelector(`[data-testid="${id}"]`);
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const seen = new Set();
    for (let i = 0; i < data.length; i += 4 * 7) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    return seen.size;
  }, id);

test('toy worlds: the paper preset over 100 epochs, scrubbing, replay, 3-D', { timeout: 600_000 }, async () => {
  const context = await launch();
  try {
    const page = await openPage(context, server.url + '?pretrained=0');
    await waitReady(page);
    const toy = byTestId(page, 'toy-boundary-plot');
    await toy.scrollIntoViewIfNeeded();
    assert.equal(await byTestId(page, 'toy-world').inputValue(), 'paper');
    assert.equal(await state(page), 'idle');
    await toy.screenshot({ path: join(SHOTS, 'toy-untrained.png') });

    // A bad setting gets a notice and starts nothing.
    await byTestId(page, 'toy-lr').fill('-1');
    await byTestId(page, 'toy-train-start').click();
    await byTestId(page, 'notice').filter({ hasText: 'Learning rate must be' }).waitFor({ timeout: 5000 });
    assert.equal(await state(page), 'idle');
    await byTestId(page, 'toy-lr').fill('0.01');

    const t0 = await page.evaluate(() => performance.now());
    await byTestId(page, 'toy-train-start').click();
    await waitState(page, 'finished');
    report.toy_epoch_ms_cpu = Number(await byTestId(page, 'toy-state').getAttribute('data-epoch-ms'));
    const tasks = await longTasksSince(page, t0);
    report.toy_worst_long_task_ms = Math.max(0, ...tasks.map((t) => t.duration));

    const distance = await series(page, 'data-distances');
    const cosine = await series(page, 'data-cosines');
    assert.equal(distance.length, 101, 'epochs 0..100 are recorded');
    assert.equal(cosine.length, 101);
    assert.ok(distance.every((d) => d >= 0 && d <= 1), 'distances are capped means');
    // Falls, then stays small: the boundary comes to the data and stays there.
    const mean = (a) => a.reduce((s, v) => s + v, 0) / a.length;
    const early = mean(distance.slice(0, 6));
    const late = distance.slice(80);
    report.toy_distance = { start: distance[0], early, late: mean(late), max_late: Math.max(...late) };
    report.toy_cosine = { start: cosine[0], late: mean(cosine.slice(80)) };
    assert.ok(mean(late) < 0.5 * early, `distance ${early} -> ${mean(late)}`);
    assert.ok(Math.max(...late) < 0.25, `stays small: ${late}`);
    assert.ok((await colours(page, 'toy-boundary-plot')) > 20, 'the boundary plot is drawn');
    assert.ok((await colours(page, 'phase-chart')) > 5, 'the phase chart is drawn');
    assert.equal(await byTestId(page, 'toy-phase').getAttribute('data-shown'), '100');
    await toy.screenshot({ path: join(SHOTS, 'toy-paper-100.png') });
    await byTestId(page, 'phase-chart').screenshot({ path: join(SHOTS, 'toy-phase-chart.png') });

    // Scrub back to epoch 10: the readout and the plot follow.
    const scrub = byTestId(page, 'toy-epoch');
    await scrub.fill('10');
    await page.waitForSelector('[data-testid="toy-phase"][data-shown="10"]');
    assert.match(await byTestId(page, 'toy-phase').innerText(), /^Epoch 10:/);
    await toy.screenshot({ path: join(SHOTS, 'toy-paper-10.png') });

    // Replay runs forward from there to the end.
    await byTestId(page, 'toy-play').click();
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="toy-phase"]').dataset.shown) > 20);
    await page.waitForSelector('[data-testid="toy-phase"][data-shown="100"]', { timeout: 30_000 });
    assert.equal(await byTestId(page, 'toy-play').innerText(), 'Play');

    // Cancel keeps the epochs trained so far.
    await byTestId(page, 'toy-epochs').fill('2000');
    await byTestId(page, 'toy-train-start').click();
    await page.waitForFunction(() => (document.querySelector('[data-testid="toy-phase"]').dataset.distances || '').split(',').length > 20);
    await byTestId(page, 'toy-cancel').click();
    await waitState(page, 'cancelled');
    const kept = (await series(page, 'data-distances')).length;
    assert.ok(kept > 20 && kept < 2001, `${kept} epochs kept`);
    assert.ok(await byTestId(page, 'toy-train-start').isEnabled());

    // 3-D: a curved sheet with a checkerboard; the surface, rotation and the section.
    await byTestId(page, 'toy-world').selectOption('sheet');
    await byTestId(page, 'toy-count').fill('16');
    await byTestId(page, 'toy-epochs').fill('60');
    await byTestId(page, 'toy-train-start').click();
    await waitState(page, 'finished');
    report.toy_epoch_ms_cpu_3d = Number(await byTestId(page, 'toy-state').getAttribute('data-epoch-ms'));
    assert.equal((await series(page, 'data-distances')).length, 61);
    assert.ok((await colours(page, 'toy-boundary-plot')) > 20, 'the 3-D plot is drawn');
    await toy.screenshot({ path: join(SHOTS, 'toy-sheet.png') });
    const before = await toy.screenshot();
    const box = await toy.boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 + 80, box.y + box.height / 2 + 30, { steps: 5 });
    await page.mouse.up();
    const after = await toy.screenshot({ path: join(SHOTS, 'toy-sheet-rotated.png') });
    assert.ok(!before.equals(after), 'dragging rotates the view');
    const section = byTestId(page, 'toy-section-plot');
    await page.waitForFunction(() => {
      const c = document.querySelector('[data-testid="toy-section-plot"]');
      return c && c.width > 0;
    });
    await page.waitForTimeout(300);
    assert.ok((await colours(page, 'toy-section-plot')) > 20, 'the section is drawn');
    await section.screenshot({ path: join(SHOTS, 'toy-sheet-section.png') });
    // A y outside the section's bounds says so under the field; the last section stays drawn.
    const note = byTestId(page, 'toy-section-note');
    assert.equal(await note.textContent(), '');
    const drawn = await section.screenshot();
    await byTestId(page, 'toy-section-y').fill('5');
    await page.waitForFunction(() => document.querySelector('[data-testid="toy-section-note"]').textContent !== '');
    assert.equal(await note.textContent(), "The cross-section's y must be between -1 and 2, not 5; the section shown stays at y = 0.5.");
    assert.ok(drawn.equals(await section.screenshot()), 'the section at y = 0.5 stays');
    await page.locator('.toy-figure:has([data-testid="toy-section-plot"])').screenshot({ path: join(SHOTS, 'toy-section-out-of-bounds.png') });
    await byTestId(page, 'toy-section-y').fill('0.25');
    await page.waitForFunction(() => document.querySelector('[data-testid="toy-section-note"]').textContent === '');
    await page.locator('section.toy').screenshot({ path: join(SHOTS, 'toy-panel.png') });
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

// End-to-end test of what answers a visitor's click: a digit picked in the gallery is attacked
// at once and shown; results of another image than the one chosen are marked; a refused
// setting far down the page shows its message on screen; a preset's note folds out of the
// way; the paper's toy world has no point count to edit; heatmaps suit the dark scheme. Any
// console error fails the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SHOTS, launch, openPage, byTestId, waitReady, servePage, attackRun, waitAttack, drawOne } from './browser.mjs';

const server = servePage();
const attr = (page, id, name) => byTestId(page, id).getAttribute(name);

// Whether the element `id` lies wholly inside the viewport.
const inView = (page, id) =>
  byTestId(page, id).evaluate((el) => {
    const r = el.getBoundingClientRect();
    return r.top >= 0 && r.bottom <= window.innerHeight && r.height > 0;
  });

test('clicks answer where the visitor looks: picks attack, stale results marked, messages in sight', { timeout: 600_000 }, async () => {
  const context = await launch({ viewport: { width: 1366, height: 768 } });
  try {
    const page = await openPage(context, server.url + '?backend=cpu');
    await waitReady(page, 300_000);
    // The pretrained models attack test digit #0 as the page opens.
    const first = await waitAttack(page, null, 300_000);
    assert.equal(await attr(page, 'attack-results', 'data-source'), 'test digit #0, a 7');

    // A gallery digit is attacked at once, and the page scrolls to its four views.
    await byTestId(page, 'gallery-pick').nth(5).click();
    const picked = await waitAttack(page, first);
    assert.equal(await attr(page, 'attack-results', 'data-source'), 'test digit #5, a 1');
    assert.equal(await attr(page, 'view-original', 'data-class'), '1');
    const title = await page.locator('#attack-title').evaluate((el) => el.getBoundingClientRect().top);
    assert.ok(title >= -1 && title < 200, `the attack panel's heading is at the top of the screen, not at ${title}`);
    assert.equal(await page.locator('.results-frame').getAttribute('data-stale'), 'false');

    // A drawn digit replaces the chosen image but not the results: they are marked as the
    // previous digit's until the attack runs again.
    await drawOne(page);
    assert.equal(await page.locator('.results-frame').getAttribute('data-stale'), 'true');
    assert.equal(
      await byTestId(page, 'attack-status').innerText(),
      'The results below are for test digit #5, a 1. Press Run attack for your drawing.',
    );
    assert.equal(await attackRun(page), picked, 'a drawing does not start an attack by itself');
    await byTestId(page, 'attack-results').screenshot({ path: join(SHOTS, 'picks-stale.png') });
    await byTestId(page, 'attack-run').click();
    await waitAttack(page, picked);
    assert.equal(await attr(page, 'attack-results', 'data-source'), 'your drawing');
    assert.equal(await page.locator('.results-frame').getAttribute('data-stale'), 'false');

    // A refused setting far below the notices: its message shows at the top of the screen
    // too, for a while, and lets clicks through.
    const eps = byTestId(page, 'attack-eps');
    const old = await eps.inputValue();
    await eps.fill('-1');
    await byTestId(page, 'attack-run').click();
    await byTestId(page, 'notice').filter({ hasText: 'eps must be a positive number' }).waitFor({ timeout: 5000 });
    const toast = byTestId(page, 'notice-toast');
    await toast.waitFor({ timeout: 5000 });
    assert.equal(await toast.innerText(), 'Cannot attack: eps must be a positive number, not -1.');
    assert.ok(await inView(page, 'notice-toast'), 'the message is on screen');
    assert.equal(await toast.evaluate((el) => getComputedStyle(el).pointerEvents), 'none');
    const list = await byTestId(page, 'notice').last().evaluate((el) => el.getBoundingClientRect().bottom);
    assert.ok(list < 0, 'the notice list itself is out of sight above');
    await page.screenshot({ path: join(SHOTS, 'picks-toast.png') });
    await toast.waitFor({ state: 'detached', timeout: 15_000 });
    await eps.fill(old);

    // A preset's note folds to its title and buttons, and unfolds.
    await byTestId(page, 'preset-random-subspace').click();
    await page.waitForSelector('[data-testid="preset-note"][data-preset="random-subspace"]');
    const note = byTestId(page, 'preset-note');
    const tall = (await note.boundingBox()).height;
    await byTestId(page, 'preset-fold').click();
    assert.equal(await attr(page, 'preset-fold', 'aria-expanded'), 'false');
    assert.equal(await page.locator('#preset-text').isVisible(), false);
    const folded = (await note.boundingBox()).height;
    assert.ok(folded < tall / 2, `folded ${folded} px against ${tall} px`);
    await page.screenshot({ path: join(SHOTS, 'picks-note-folded.png') });
    await byTestId(page, 'preset-fold').click();
    assert.equal(await page.locator('#preset-text').isVisible(), true);
    await byTestId(page, 'preset-close').click();

    // The paper's toy world has its own five points: no count to edit.
    await page.waitForSelector('[data-testid="attack-status"][data-busy="false"]', { timeout: 120_000 });
    assert.equal(await byTestId(page, 'toy-count').isDisabled(), true);
    await byTestId(page, 'toy-world').selectOption('line');
    assert.equal(await byTestId(page, 'toy-count').isDisabled(), false);

    // In the dark scheme an unchanged pixel of a perturbation heatmap is dark, not white.
    await page.emulateMedia({ colorScheme: 'dark' });
    const shown = await attackRun(page);
    await byTestId(page, 'gallery-pick').nth(6).click();
    await waitAttack(page, shown);
    const corner = await page.locator('[data-testid="view-on-manifold"] canvas.heat').evaluate((c) =>
      Array.from(c.getContext('2d').getImageData(0, 0, 1, 1).data.slice(0, 3)),
    );
    assert.ok(corner.every((v) => v < 80), `the heatmap's corner is ${corner}`);
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

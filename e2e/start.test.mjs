// End-to-end test of the instant start: a first visit shows the four views of a digit from
// the shipped pretrained models, without any training, and "Train" replaces the classifier.
// Any console error fails the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SHOTS, launch, openPage, byTestId, servePage } from './browser.mjs';

const server = servePage('start-report.json', 'start');
const report = server.report;

const attr = (page, id, name) => byTestId(page, id).getAttribute(name);

test('instant start: the four views from the pretrained models, then training replaces them', { timeout: 300_000 }, async () => {
  const context = await launch();
  try {
    const page = await openPage(context, server.url + '?backend=cpu');
    // From navigation start to the adversarial view on the page.
    await byTestId(page, 'view-adversarial').waitFor({ timeout: 60_000 });
    const shown = await page.evaluate(() => performance.now());
    report.first_four_views_ms = Math.round(shown);
    console.log(`first four views after ${Math.round(shown)} ms`);

    // Nothing was trained: the panels say they show the shipped models.
    assert.equal(await attr(page, 'train-state', 'data-state'), 'idle');
    // The model file's own description carries the accuracy `dimple pretrain` measured natively;
    // the page measures it again on the same 2,000 test images, in the browser.
    const described = (await byTestId(page, 'pretrained-classifier').innerText())
      .match(/pretrained classifier \(MLP 784-256-256-10.*: (\d+\.\d+)% on the 2000 test images/);
    assert.ok(described, 'the pretrained classifier is described with its accuracy');
    await byTestId(page, 'pretrained-autoencoder').waitFor();
    await page.waitForFunction(() => document.querySelector('[data-testid="test-accuracy"]').dataset.value !== '');
    const accuracy = Number(await attr(page, 'test-accuracy', 'data-value'));
    assert.ok(accuracy > 96, `pretrained accuracy on the page ${accuracy}`);
    assert.ok(Math.abs(accuracy - Number(described[1])) < 0.01, `the page measures ${accuracy}%, natively ${described[1]}%`);
    await page.waitForFunction(() => document.querySelector('[data-testid="ae-test-mse"]')?.dataset.value);
    assert.ok(Number(await attr(page, 'ae-test-mse', 'data-value')) < 0.02);

    // The four views of test digit #0 (a 7): the attack changes the class.
    const original = Number(await attr(page, 'view-original', 'data-class'));
    const adversarial = Number(await attr(page, 'view-adversarial', 'data-class'));
    assert.equal(original, 7);
    assert.notEqual(adversarial, original);
    for (const id of ['view-on-manifold', 'view-off-manifold']) await byTestId(page, id).waitFor();
    await page.screenshot({ path: join(SHOTS, 'start-first-view.png') });
    await byTestId(page, 'attack-results').screenshot({ path: join(SHOTS, 'start-four-views.png') });

    // One click trains from scratch and replaces the shipped classifier.
    await byTestId(page, 'epochs').fill('1');
    await byTestId(page, 'train-start').click();
    await page.waitForSelector('[data-testid="train-state"][data-state="finished"]', { timeout: 120_000 });
    assert.equal(await byTestId(page, 'pretrained-classifier').count(), 0);
    const trained = Number(await attr(page, 'test-accuracy', 'data-value'));
    assert.ok(trained > 85 && trained < 96, `one epoch from scratch: ${trained}`);
    assert.deepEqual(page.errors, []);

    // ?pretrained=0 starts blank.
    const blank = await openPage(context, server.url + '?backend=cpu&pretrained=0');
    await blank.waitForSelector('[data-testid="train-start"]:not([disabled])');
    assert.equal(await byTestId(blank, 'pretrained-classifier').count(), 0);
    assert.equal(await attr(blank, 'test-accuracy', 'data-value'), '');
    assert.deepEqual(blank.errors, []);
  } finally {
    await context.close();
  }
});

// End-to-end test of the dataset choice on the CPU backend: models trained on MNIST stay with
// MNIST while the visitor trains on Fashion-MNIST, and come back, figures and all, when they
// switch back. Any console error fails the test.
// DIST names the built page to serve (default: dist/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SHOTS, launch, openPage, byTestId, waitReady, servePage, chooseDataset, trainModels } from './browser.mjs';

const FASHION = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

const server = servePage('dataset-report.json', 'dataset');
const report = server.report;

const attr = (page, id, name) => byTestId(page, id).getAttribute(name);
const waitAttr = (page, id, name, value, timeout = 600_000) =>
  page.waitForSelector(`[data-testid="${id}"][data-${name}="${value}"]`, { timeout });
const notice = (page, text) => byTestId(page, 'notice').filter({ hasText: text }).waitFor({ timeout: 10_000 });
const panel = (page, id) => page.locator('section.panel').filter({ has: byTestId(page, id) });
const info = (page) => byTestId(page, 'dataset-info').innerText();
const gallery = (page) =>
  byTestId(page, 'gallery-item').evaluateAll((els) =>
    els.map((e) => ({ label: e.dataset.label, prediction: e.dataset.prediction, caption: e.querySelector('figcaption').textContent })),
  );

// Trains the classifier and then the autoencoder for one epoch each; returns their test figures.
async function trainBoth(page) {
  await trainModels(page);
  return {
    accuracy: await attr(page, 'test-accuracy', 'data-value'),
    mse: await attr(page, 'ae-test-mse', 'data-value'),
    gallery: await gallery(page),
  };
}

test('MNIST and Fashion-MNIST each keep their own models', { timeout: 900_000 }, async () => {
  const context = await launch();
  try {
    const page = await openPage(context, server.url + '?pretrained=0');
    await waitReady(page);
    assert.match(await info(page), /^MNIST: 12,000 training and 2,000 test images of 28×28 pixels, 10 classes$/);

    const mnist = await trainBoth(page);
    report.mnist_one_epoch_test_accuracy = Number(mnist.accuracy);
    assert.ok(Number(mnist.accuracy) > 85, `MNIST: ${mnist.accuracy}% after one epoch`);
    assert.ok(mnist.gallery.every((g) => /^\d · \d+%$/.test(g.caption)), JSON.stringify(mnist.gallery[0]));

    // While a model trains the dataset cannot change: the run's model belongs to its data.
    await byTestId(page, 'epochs').fill('3');
    await byTestId(page, 'train-start').click();
    await waitAttr(page, 'train-state', 'state', 'running', 10_000);
    assert.equal(await byTestId(page, 'dataset-select').isDisabled(), true);
    await byTestId(page, 'dataset-locked').waitFor({ timeout: 5000 });
    await byTestId(page, 'train-cancel').click();
    await waitAttr(page, 'train-state', 'state', 'cancelled', 10_000);
    // The lock goes when the training loop has stopped, at its next step.
    await page.waitForSelector('[data-testid="dataset-select"]:not([disabled])', { timeout: 10_000 });
    assert.equal(await attr(page, 'test-accuracy', 'data-value'), mnist.accuracy);

    // Fashion-MNIST starts with no models: every panel says so.
    await chooseDataset(page, 'fashion', /^Fashion-MNIST: 12,000 training and 2,000 test images of 28×28 pixels, 10 classes \(T-shirt\/top, Trouser/);
    await notice(page, 'Switched to Fashion-MNIST. Models belong to the dataset they were trained on');
    await notice(page, 'Your MNIST models are kept for when you switch back.');
    assert.equal(await attr(page, 'test-accuracy', 'data-value'), '');
    assert.equal(await attr(page, 'train-state', 'data-state'), 'idle');
    assert.equal(await attr(page, 'ae-state', 'data-state'), 'idle');
    assert.equal(await byTestId(page, 'dataset-size').locator('option[value="full"]').isDisabled(), true);
    const untrained = await gallery(page);
    assert.deepEqual(new Set(untrained.map((g) => g.caption)), new Set(['untrained']));
    assert.deepEqual(untrained.slice(0, 10).map((g) => g.label), ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    await byTestId(page, 'random-digit').click();
    const caption = await byTestId(page, 'chosen-caption').innerText();
    assert.ok(FASHION.some((name) => caption.endsWith(`, a ${name}`)), caption);
    await byTestId(page, 'attack-run').click();
    await notice(page, 'train a classifier first');
    await page.screenshot({ path: join(SHOTS, 'dataset-fashion-untrained.png'), fullPage: true });

    const fashion = await trainBoth(page);
    report.fashion_one_epoch_test_accuracy = Number(fashion.accuracy);
    report.fashion_one_epoch_test_mse = Number(fashion.mse);
    assert.ok(Number(fashion.accuracy) > 75, `Fashion-MNIST: ${fashion.accuracy}% after one epoch`);
    const names = fashion.gallery.map((g) => g.caption.replace(/ · \d+%$/, ''));
    assert.ok(names.every((n) => FASHION.includes(n)), names.join(' | '));
    const right = fashion.gallery.filter((g) => g.label === g.prediction).length;
    report.fashion_gallery_right = right;
    assert.ok(right >= 18, `Fashion gallery: ${right} of 30 right`);
    await page.screenshot({ path: join(SHOTS, 'dataset-fashion-trained.png'), fullPage: true });
    await panel(page, 'dataset-select').screenshot({ path: join(SHOTS, 'dataset-fashion-data-panel.png') });
    await panel(page, 'gallery').screenshot({ path: join(SHOTS, 'dataset-fashion-gallery.png') });

    // Back to MNIST: its models and their figures return without training.
    await chooseDataset(page, 'mnist', /^MNIST: 12,000 training/);
    await notice(page, 'Switched to MNIST. The models you trained on it before are back. Your Fashion-MNIST models are kept');
    assert.equal(await byTestId(page, 'notice').filter({ hasText: 'Switched to Fashion-MNIST' }).count(), 0);
    assert.equal(await attr(page, 'test-accuracy', 'data-value'), mnist.accuracy);
    assert.equal(await attr(page, 'ae-test-mse', 'data-value'), mnist.mse);
    assert.equal(await attr(page, 'train-state', 'data-state'), 'cancelled');
    assert.deepEqual(await gallery(page), mnist.gallery);
    // The restored models are the ones that work: an attack runs on them.
    await page.locator('[data-testid="gallery-pick"]').first().click();
    await byTestId(page, 'attack-steps').fill('20');
    await byTestId(page, 'attack-run').click();
    await byTestId(page, 'attack-results').waitFor({ timeout: 120_000 });
    await page.screenshot({ path: join(SHOTS, 'dataset-mnist-restored.png'), fullPage: true });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(SHOTS, 'dataset-mnist-restored-top.png') });

    // And Fashion-MNIST's come back in turn.
    await chooseDataset(page, 'fashion', /^Fashion-MNIST/);
    assert.equal(await attr(page, 'test-accuracy', 'data-value'), fashion.accuracy);
    assert.equal(await attr(page, 'ae-test-mse', 'data-value'), fashion.mse);
    assert.deepEqual(await gallery(page), fashion.gallery);
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

// End-to-end test of "Your models": models saved in the browser come back after a reload,
// downloaded files are model files, and a foreign, truncated, corrupt or mismatched upload
// gets a notice and changes nothing, while the good file loads. Also a browser without
// IndexedDB. Any console error fails the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SHOTS, launch, openPage, byTestId, waitReady, runAttack, chooseDataset, trainModels, servePage } from './browser.mjs';

const server = servePage();

const attr = (page, id, name) => byTestId(page, id).getAttribute(name);
const notice = (page, text) => byTestId(page, 'notice').filter({ hasText: text }).waitFor({ timeout: 20_000 });
const panel = (page) => page.locator('section[aria-labelledby="models-title"]');

// Waits until `id`'s data-value is set, and returns it.
async function value(page, id) {
  await page.waitForFunction((id) => document.querySelector(`[data-testid="${id}"]`)?.dataset.value, id, { timeout: 60_000 });
  return attr(page, id, 'data-value');
}

// FNV-1a 64 of `bytes`, as the model files' checksum (ml::dataset::fnv1a64).
function fnv1a64(bytes) {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  return h;
}

// `file` with its body changed by `edit` and its checksum made right again: a well-formed
// model file that says something else.
function resealed(file, edit) {
  const body = edit(Buffer.from(file.subarray(0, file.length - 8)));
  const sum = Buffer.alloc(8);
  sum.writeBigUInt64LE(fnv1a64(body));
  return Buffer.concat([body, sum]);
}

// Offset of the dataset name's length in a model file: magic 8, version 4, role 1,
// architecture 1, k 4, height, width, classes 12, precision 1.
const NAME_AT = 31;

test('models: save, restore after a reload, download, refuse bad files, load a good one, forget', { timeout: 600_000 }, async () => {
  const context = await launch();
  const url = server.url + '?pretrained=0&backend=cpu';
  try {
    let page = await openPage(context, url);
    await waitReady(page);
    await page.waitForSelector('[data-testid="model-saved"][data-count="0"]');
    assert.match(await panel(page).innerText(), /Nothing is saved in this browser yet/);

    // Nothing to save or download before training.
    await byTestId(page, 'model-save').click();
    await notice(page, 'Could not save: there is no model to save yet');
    await byTestId(page, 'model-download-classifier').click();
    await notice(page, 'Could not download: there is no classifier to download yet');

    // One epoch of each model.
    await trainModels(page, {}, 300_000);
    const accuracy = await value(page, 'test-accuracy');
    const mse = await value(page, 'ae-test-mse');

    await byTestId(page, 'model-save').click();
    await page.waitForSelector('[data-testid="model-saved"][data-count="2"]', { timeout: 60_000 });
    assert.match(await byTestId(page, 'model-status').innerText(), /Saved the MNIST classifier and autoencoder in this browser/);
    const listed = await byTestId(page, 'model-saved').innerText();
    assert.match(listed, new RegExp(`MNIST classifier: MLP 784-256-256-10: ${accuracy.replace('.', '\\.')}% on the 2000 MNIST test images`));
    assert.match(listed, /MNIST autoencoder: Conv autoencoder/);
    await panel(page).screenshot({ path: join(SHOTS, 'models-saved.png') });
    assert.deepEqual(page.errors, []);

    // A reload brings them back, before anything is trained.
    page = await openPage(context, url);
    await waitReady(page);
    await notice(page, 'Restored your saved models from this browser: the MNIST classifier and autoencoder');
    assert.equal(await value(page, 'test-accuracy'), accuracy);
    assert.equal(await value(page, 'ae-test-mse'), mse);
    assert.equal(await attr(page, 'train-state', 'data-state'), 'idle');
    assert.equal(await attr(page, 'pretrained-classifier', 'data-source'), 'saved');
    assert.match(await byTestId(page, 'pretrained-classifier').innerText(), /your classifier saved in this browser/);
    assert.equal(await attr(page, 'pretrained-autoencoder', 'data-source'), 'saved');
    // The restored models attack at once (the page attacks digit #0 by itself; run once more).
    await byTestId(page, 'view-adversarial').waitFor({ timeout: 120_000 });
    await runAttack(page);
    assert.notEqual(await attr(page, 'view-adversarial', 'data-class'), await attr(page, 'view-original', 'data-class'));
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(SHOTS, 'models-restored.png') });

    // Downloads are model files.
    const downloaded = {};
    for (const role of ['classifier', 'autoencoder']) {
      const [download] = await Promise.all([page.waitForEvent('download'), byTestId(page, `model-download-${role}`).click()]);
      assert.equal(download.suggestedFilename(), `mnist-${role}.dmplm`);
      const path = join(SHOTS, `models-mnist-${role}.dmplm`);
      await download.saveAs(path);
      downloaded[role] = await readFile(path);
      assert.equal(downloaded[role].subarray(0, 8).toString('latin1'), 'DIMPLEMD');
    }
    const good = downloaded.classifier;

    // Bad uploads: each gets its notice, and the models and their figures stay.
    const unchanged = async (what) => {
      assert.equal(await attr(page, 'test-accuracy', 'data-value'), accuracy, what);
      assert.equal(await attr(page, 'ae-test-mse', 'data-value'), mse, what);
      assert.equal(await attr(page, 'pretrained-classifier', 'data-source'), 'saved', what);
      assert.equal(await attr(page, 'pretrained-autoencoder', 'data-source'), 'saved', what);
    };
    const flipped = Buffer.from(good);
    flipped[good.length >> 1] ^= 0x40;
    const fashion = resealed(good, (body) => {
      const len = body.readUInt16LE(NAME_AT);
      const name = Buffer.from('fashion');
      const size = Buffer.alloc(2);
      size.writeUInt16LE(name.length);
      return Buffer.concat([body.subarray(0, NAME_AT), size, name, body.subarray(NAME_AT + 2 + len)]);
    });
    // The classifier's weights under an autoencoder's header.
    const impostor = resealed(good, (body) => {
      body[12] = 2;
      body.writeUInt32LE(16, 14);
      return body;
    });
    const png = await byTestId(page, 'view-original').screenshot();
    const bad = [
      ['digit.png', png, 'Could not load digit.png: this is not a Dimple model file. Nothing was changed.'],
      ['notes.txt', Buffer.from('my model\n'), 'Could not load notes.txt: this is not a Dimple model file.'],
      ['empty.dmplm', Buffer.alloc(0), 'Could not load empty.dmplm: this is not a Dimple model file.'],
      // Past the header a cut cannot be told from corruption (ml::checkpoint): either reason.
      ['cut.dmplm', good.subarray(0, good.length >> 1), /Could not load cut\.dmplm: this model file is (incomplete|corrupt)/],
      ['header.dmplm', good.subarray(0, 20), 'Could not load header.dmplm: this model file is incomplete'],
      ['flipped.dmplm', flipped, 'Could not load flipped.dmplm: this model file is corrupt (its checksum does not match)'],
      ['fashion.dmplm', fashion, 'it holds a classifier trained on Fashion-MNIST, and the page is on MNIST: switch the dataset in the Data panel first'],
      ['impostor.dmplm', impostor, 'Could not load impostor.dmplm: this model file is invalid: parameter 0 has shape'],
    ];
    for (const [name, buffer, text] of bad) {
      await byTestId(page, 'model-load').setInputFiles({ name, mimeType: 'application/octet-stream', buffer });
      await notice(page, text);
      await unchanged(name);
    }
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(SHOTS, 'models-refused.png') });
    await runAttack(page);

    // The good file loads over a freshly trained classifier: the panel shows the file's model.
    await byTestId(page, 'seed').fill('2');
    await byTestId(page, 'train-start').click();
    await page.waitForSelector('[data-testid="train-state"][data-state="finished"]', { timeout: 300_000 });
    const retrained = await attr(page, 'test-accuracy', 'data-value');
    assert.notEqual(retrained, accuracy, 'seed 2 trains another classifier');
    await byTestId(page, 'model-load').setInputFiles({ name: 'mnist-classifier.dmplm', mimeType: 'application/octet-stream', buffer: good });
    await page.waitForSelector('[data-testid="pretrained-classifier"][data-source="file"]', { timeout: 60_000 });
    assert.match(await byTestId(page, 'pretrained-classifier').innerText(), /the classifier from mnist-classifier\.dmplm \(MLP 784-256-256-10/);
    assert.match(await byTestId(page, 'model-status').innerText(), /Loaded the MNIST classifier from mnist-classifier\.dmplm/);
    assert.equal(await attr(page, 'train-state', 'data-state'), 'idle');
    await page.waitForFunction((a) => document.querySelector('[data-testid="test-accuracy"]').dataset.value === a, accuracy, { timeout: 60_000 });
    await runAttack(page);
    await panel(page).screenshot({ path: join(SHOTS, 'models-loaded.png') });

    // Models are kept per dataset: a Fashion-MNIST classifier saved beside the MNIST ones comes
    // back when the visitor switches to Fashion-MNIST after a reload.
    await chooseDataset(page, 'fashion', /Fashion-MNIST: 12,000/);
    await byTestId(page, 'train-start').click();
    await page.waitForSelector('[data-testid="train-state"][data-state="finished"]', { timeout: 300_000 });
    const fashionAccuracy = await value(page, 'test-accuracy');
    await byTestId(page, 'model-save').click();
    await page.waitForSelector('[data-testid="model-saved"][data-count="3"]', { timeout: 60_000 });
    assert.match(await byTestId(page, 'model-status').innerText(), /Saved the Fashion-MNIST classifier in this browser/);
    page = await openPage(context, url);
    await waitReady(page);
    await notice(page, 'Restored your saved models from this browser: the MNIST classifier and autoencoder');
    await chooseDataset(page, 'fashion', /Fashion-MNIST: 12,000/);
    await notice(page, 'Restored your saved models from this browser: the Fashion-MNIST classifier.');
    await page.waitForSelector('[data-testid="pretrained-classifier"][data-source="saved"]');
    await page.waitForFunction((a) => document.querySelector('[data-testid="test-accuracy"]').dataset.value === a, fashionAccuracy, { timeout: 60_000 });
    assert.equal(await byTestId(page, 'pretrained-autoencoder').count(), 0);

    // Forget empties the store: the next visit starts blank.
    await byTestId(page, 'model-forget').click();
    await page.waitForSelector('[data-testid="model-saved"][data-count="0"]');
    assert.match(await byTestId(page, 'model-status').innerText(), /Forgot the models saved in this browser/);
    assert.deepEqual(page.errors, []);
    page = await openPage(context, url);
    await waitReady(page);
    await page.waitForSelector('[data-testid="model-saved"][data-count="0"]');
    assert.equal(await attr(page, 'test-accuracy', 'data-value'), '');
    assert.equal(await byTestId(page, 'notice').filter({ hasText: 'Restored' }).count(), 0);
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

test('models: without IndexedDB the page says so, starts with the pretrained models and still downloads', { timeout: 300_000 }, async () => {
  const context = await launch();
  try {
    // As in a sandboxed frame: reading window.indexedDB throws.
    await context.addInitScript(() => {
      Object.defineProperty(window, 'indexedDB', {
        get() {
          throw new DOMException("Failed to read the 'indexedDB' property from 'Window': access is denied for this document.", 'SecurityError');
        },
      });
    });
    const page = await openPage(context, server.url + '?backend=cpu');
    await waitReady(page);
    await value(page, 'test-accuracy');
    assert.equal(await attr(page, 'pretrained-classifier', 'data-source'), 'pretrained');
    await byTestId(page, 'model-saved').filter({ hasText: 'This browser does not let the page keep models' }).waitFor();
    await byTestId(page, 'model-save').click();
    await notice(page, 'Could not save: this browser does not let the page keep models (');
    const [download] = await Promise.all([page.waitForEvent('download'), byTestId(page, 'model-download-autoencoder').click()]);
    assert.equal(download.suggestedFilename(), 'mnist-autoencoder.dmplm');
    await panel(page).screenshot({ path: join(SHOTS, 'models-no-storage.png') });
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

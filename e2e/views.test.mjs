// End-to-end test of the four views on the CPU backend: train the classifier and the
// autoencoder briefly, pick a test digit, attack it, and check what the page shows. Any
// console error fails the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SHOTS, launch, openPage, byTestId, waitReady, longTasksSince, servePage, runAttack, l2Attack, correctDigits, canvasSpread } from './browser.mjs';

const server = servePage('views-report.json', 'views');
const report = server.report;

const FOUR = ['view-original', 'view-adversarial', 'view-on-manifold', 'view-off-manifold'];
const RESTRICTED = ['view-restricted-on', 'view-restricted-off', 'view-restricted-random'];

const attr = (page, id, name) => byTestId(page, id).getAttribute(name);
const num = async (page, id, name) => Number(await attr(page, id, name));
const notice = (page, text) => byTestId(page, 'notice').filter({ hasText: text }).waitFor({ timeout: 5000 });

// Spread of the pixel values of the large image inside `id` (0 for a blank canvas).
const spread = async (page, id) => (await canvasSpread(page, `[data-testid="${id}"] canvas.big`)).spread;

test('four views: attack a digit, project its perturbation, restricted attacks, path', { timeout: 900_000 }, async () => {
  const context = await launch();
  try {
    const page = await openPage(context, server.url + '?backend=cpu&pretrained=0');
    await waitReady(page);

    // Before any training the attack says what is missing.
    await byTestId(page, 'gallery-pick').first().click();
    assert.match(await byTestId(page, 'chosen-caption').innerText(), /test digit #0, a 7/);
    await byTestId(page, 'attack-run').click();
    await notice(page, 'train a classifier first');

    // Train both models briefly; with only the classifier the attack asks for the autoencoder.
    await byTestId(page, 'epochs').fill('1');
    await byTestId(page, 'train-start').click();
    await page.waitForSelector('[data-testid="train-state"][data-state="finished"]', { timeout: 600_000 });
    await byTestId(page, 'attack-run').click();
    await notice(page, 'train the autoencoder first');
    await byTestId(page, 'ae-epochs').fill('2');
    const aeStart = await page.evaluate(() => performance.now());
    await byTestId(page, 'ae-train-start').click();
    await page.waitForSelector('[data-testid="ae-state"][data-state="finished"]', { timeout: 600_000 });
    report.ae_test_mse_after_2_epochs = Number(await attr(page, 'ae-test-mse', 'data-value'));
    assert.ok(report.ae_test_mse_after_2_epochs < 0.04, `autoencoder test MSE ${report.ae_test_mse_after_2_epochs}`);
    assert.equal(await byTestId(page, 'ae-reconstruction').count(), 8);
    const aeTasks = await longTasksSince(page, aeStart);
    report.training_worst_long_task_ms = Math.max(0, ...aeTasks.map((t) => t.duration));
    assert.ok(report.training_worst_long_task_ms < 200, `a task ran ${report.training_worst_long_task_ms} ms while training`);
    await byTestId(page, 'ae-strip').screenshot({ path: join(SHOTS, 'views-autoencoder-strip.png') });

    // Bad settings get a clear notice and start nothing.
    await byTestId(page, 'attack-eps').fill('');
    await byTestId(page, 'attack-run').click();
    await notice(page, 'eps must be a number');

    // Settings under which the plain, on and off attacks all flip a 1-epoch MLP: the plain
    // attack within eps 2, the restricted ones searching up to L2 6.
    await l2Attack(page);
    await byTestId(page, 'attack-target').selectOption('');

    // Try correctly classified gallery digits until both restricted attacks flip.
    const candidates = await correctDigits(page);
    let picked = null;
    const tries = [];
    for (const digit of candidates) {
      await byTestId(page, 'gallery-pick').nth(digit.i).click();
      const t0 = await page.evaluate(() => performance.now());
      await runAttack(page);
      const tasks = await longTasksSince(page, t0);
      const on = await num(page, 'view-restricted-on', 'data-l2');
      const off = await num(page, 'view-restricted-off', 'data-l2');
      const flipped = await Promise.all(RESTRICTED.map((id) => attr(page, id, 'data-flipped')));
      tries.push({ digit: digit.i, on, off, flipped, worst_task_ms: Math.max(0, ...tasks.map((t) => t.duration)) });
      if (flipped[0] === 'true' && flipped[1] === 'true') {
        picked = digit;
        break;
      }
    }
    report.tries = tries;
    assert.ok(picked, `no digit flipped both restricted attacks: ${JSON.stringify(tries)}`);
    const results = byTestId(page, 'attack-results');
    report.attack_ms = {
      tangent_basis: Number(await results.getAttribute('data-timing-basis')),
      pgd_1x200_and_4x200_steps: Number(await results.getAttribute('data-timing-pgd')),
      total: Number(await results.getAttribute('data-timing-total')),
    };
    report.attack_worst_long_task_ms = tries.at(-1).worst_task_ms;
    assert.ok(report.attack_worst_long_task_ms < 200, `a task ran ${report.attack_worst_long_task_ms} ms during the attack`);
    assert.match(await byTestId(page, 'attack-status').innerText(), /in 2 batches/);

    // The four views: the attack changed the class, and every image has content.
    const original = await attr(page, 'view-original', 'data-class');
    assert.equal(original, picked.label);
    assert.notEqual(await attr(page, 'view-adversarial', 'data-class'), original);
    for (const id of FOUR) {
      assert.ok((await spread(page, id)) > 100, `${id} is blank`);
      const confidence = await num(page, id, 'data-confidence');
      assert.ok(confidence > 0 && confidence <= 1, `${id} confidence ${confidence}`);
    }
    assert.equal(await num(page, 'view-original', 'data-l2'), 0);
    const d = await num(page, 'view-adversarial', 'data-l2');
    const on = await num(page, 'view-on-manifold', 'data-l2');
    const off = await num(page, 'view-off-manifold', 'data-l2');
    assert.ok(Math.abs(on * on + off * off - d * d) < 1e-2 * d * d, `on ${on}, off ${off}, d ${d}`);
    const fraction = await num(page, 'manifold-fraction', 'data-value');
    assert.ok(Math.abs(fraction - on / d) < 2e-3, `fraction ${fraction} vs ${on / d}`);
    report.four_views = {
      classes: await Promise.all(FOUR.map((id) => attr(page, id, 'data-class'))),
      l2: [0, d, on, off],
      fraction,
      random_fraction: await num(page, 'manifold-fraction', 'data-random'),
      expected_random: await num(page, 'manifold-fraction', 'data-expected'),
    };

    // Restricted attacks: on needs a longer perturbation than off to cross the boundary.
    const restricted = {};
    for (const id of ['view-restricted-plain', ...RESTRICTED]) {
      restricted[id] = {
        class: await attr(page, id, 'data-class'),
        l2: await num(page, id, 'data-l2'),
        flipped: await attr(page, id, 'data-flipped'),
      };
    }
    report.restricted = restricted;
    assert.ok(
      restricted['view-restricted-on'].l2 > restricted['view-restricted-off'].l2,
      `on ${restricted['view-restricted-on'].l2} <= off ${restricted['view-restricted-off'].l2}`,
    );
    assert.notEqual(restricted['view-restricted-off'].class, original);
    assert.match(await byTestId(page, 'view-restricted-on').innerText(), /outside its subspace/);

    // The path: the slider's ends are the clean image and the final adversarial example.
    const slider = byTestId(page, 'attack-step-slider');
    assert.equal(await slider.getAttribute('max'), '200');
    await slider.fill('0');
    assert.equal(await attr(page, 'path-caption', 'data-class'), original);
    await slider.fill('200');
    assert.equal(await attr(page, 'path-caption', 'data-class'), await attr(page, 'view-adversarial', 'data-class'));
    await slider.fill('0');
    await byTestId(page, 'attack-play').click();
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="attack-step-slider"]').value) > 5);
    await byTestId(page, 'attack-play').click();

    await byTestId(page, 'attack-results').screenshot({ path: join(SHOTS, 'views-results.png') });
    await page.screenshot({ path: join(SHOTS, 'views-page.png'), fullPage: true });

    // L∞: the plain attack uses it, the restricted row says it uses L2.
    await byTestId(page, 'attack-norm').selectOption('linf');
    await byTestId(page, 'attack-eps').fill('0.2');
    await byTestId(page, 'attack-step').fill('0.01');
    await byTestId(page, 'attack-steps').fill('40');
    await runAttack(page);
    assert.ok((await num(page, 'view-adversarial', 'data-linf')) <= 0.2 + 1e-4);
    assert.match(await byTestId(page, 'attack-results').innerText(), /They use the L2 norm/);

    // A targeted attack ends in its target.
    await byTestId(page, 'attack-norm').selectOption('l2');
    await byTestId(page, 'attack-eps').fill('6');
    await byTestId(page, 'attack-step').fill('0.1');
    await byTestId(page, 'attack-steps').fill('100');
    const target = original === '3' ? '8' : '3';
    await byTestId(page, 'attack-target').selectOption(target);
    await runAttack(page);
    assert.equal(await attr(page, 'view-adversarial', 'data-class'), target);
    assert.match(await byTestId(page, 'attack-status').innerText(), /in one batch/);
    report.targeted_one_batch_ms = Number(await byTestId(page, 'attack-results').getAttribute('data-timing-total'));

    // An uploaded picture of the original digit, dark on white paper and ten times as large,
    // is read back as the same digit.
    const dataUrl = await page.evaluate(() => {
      const src = document.querySelector('[data-testid="view-original"] canvas.big');
      const pixels = src.getContext('2d').getImageData(0, 0, src.width, src.height);
      for (let i = 0; i < pixels.data.length; i += 4) {
        for (let c = 0; c < 3; c++) pixels.data[i + c] = 255 - pixels.data[i + c];
      }
      const small = document.createElement('canvas');
      small.width = src.width;
      small.height = src.height;
      small.getContext('2d').putImageData(pixels, 0, 0);
      const big = document.createElement('canvas');
      big.width = 10 * src.width;
      big.height = 10 * src.height;
      const ctx = big.getContext('2d');
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(small, 0, 0, big.width, big.height);
      return big.toDataURL('image/png');
    });
    const png = Buffer.from(dataUrl.split(',')[1], 'base64');
    await byTestId(page, 'attack-target').selectOption('');
    await byTestId(page, 'upload-image').setInputFiles({ name: 'digit.png', mimeType: 'image/png', buffer: png });
    await page.waitForFunction(() => /uploaded digit\.png/.test(document.querySelector('[data-testid="chosen-caption"]').textContent));
    await runAttack(page);
    assert.equal(await attr(page, 'view-original', 'data-class'), original);
    // A file that is not an image, or not a readable one, gets a clear notice.
    await byTestId(page, 'upload-image').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('a seven') });
    await notice(page, 'notes.txt: this is not an image');
    await byTestId(page, 'upload-image').setInputFiles({ name: 'broken.png', mimeType: 'image/png', buffer: Buffer.from('not a png') });
    await notice(page, 'broken.png: the picture could not be decoded');

    // Random test digit picks one from the test split.
    await byTestId(page, 'random-digit').click();
    assert.match(await byTestId(page, 'chosen-caption').innerText(), /^test digit #\d+, a \d$/);

    // A digit drawn with the mouse becomes the image to attack.
    const pad = await byTestId(page, 'draw-pad').boundingBox();
    const at = (fx, fy) => [pad.x + fx * pad.width, pad.y + fy * pad.height];
    await page.mouse.move(...at(0.25, 0.22));
    await page.mouse.down();
    for (const [fx, fy] of [[0.5, 0.22], [0.75, 0.22], [0.6, 0.5], [0.45, 0.8]]) {
      await page.mouse.move(...at(fx, fy), { steps: 8 });
    }
    await page.mouse.up();
    assert.equal(await byTestId(page, 'chosen-caption').innerText(), 'your drawing');
    const drawn = await page.evaluate(() => {
      const c = document.querySelector('[data-testid="chosen-image"]');
      const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let ink = 0;
      for (let i = 0; i < data.length; i += 4) ink += data[i] > 128 ? 1 : 0;
      return { width: c.width, ink };
    });
    assert.equal(drawn.width, 28);
    assert.ok(drawn.ink > 20 && drawn.ink < 250, `drawn digit has ${drawn.ink} bright pixels`);
    await runAttack(page);
    report.drawn_digit_class = await attr(page, 'view-original', 'data-class');
    await page.locator('.attack-setup').screenshot({ path: join(SHOTS, 'views-draw.png') });
    assert.deepEqual(page.errors, []);

    // The CNN on the CPU backend: 4 × 200 + 200 PGD steps run in chunks with yields in
    // between, so no main-thread task comes near 200 ms, and the status counts the steps.
    await byTestId(page, 'model-select').selectOption('cnn');
    await byTestId(page, 'epochs').fill('1');
    await byTestId(page, 'train-start').click();
    await page.waitForSelector('[data-testid="train-state"]:not([data-state="finished"])', { timeout: 10_000 });
    await page.waitForSelector('[data-testid="train-state"][data-state="finished"]', { timeout: 600_000 });
    await l2Attack(page);
    await byTestId(page, 'gallery-pick').first().click();
    await page.evaluate(() => {
      window.__statusTexts = [];
      const status = document.querySelector('[data-testid="attack-status"]');
      new MutationObserver(() => window.__statusTexts.push(status.textContent)).observe(status, {
        childList: true,
        characterData: true,
        subtree: true,
      });
    });
    const cnnStart = await page.evaluate(() => performance.now());
    await runAttack(page);
    const cnnTasks = await longTasksSince(page, cnnStart);
    report.cnn_attack_worst_long_task_ms = Math.max(0, ...cnnTasks.map((t) => t.duration));
    report.cnn_attack_ms = {
      pgd_1x200_and_4x200_steps: await num(page, 'attack-results', 'data-timing-pgd'),
      total: await num(page, 'attack-results', 'data-timing-total'),
    };
    const progress = await page.evaluate(() => window.__statusTexts.filter((t) => /Running PGD: step \d+ of 400/.test(t)));
    report.cnn_attack_progress_updates = progress.length;
    assert.ok(progress.length > 1, `the status never counted PGD steps: ${JSON.stringify(progress)}`);
    assert.ok(
      report.cnn_attack_worst_long_task_ms < 200,
      `a task ran ${report.cnn_attack_worst_long_task_ms} ms during the CNN attack`,
    );
    assert.match(await byTestId(page, 'attack-status').innerText(), /200 steps in 2 batches/);
    assert.equal(await attr(page, 'attack-step-slider', 'max'), '200');
    assert.deepEqual(page.errors, []);

    // A phone-width screen does not scroll sideways.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
    assert.ok(scroll <= client, `page is ${scroll}px wide in a ${client}px viewport`);
    await page.locator('.attack-setup').screenshot({ path: join(SHOTS, 'views-narrow-setup.png') });
    await page.locator('.views').first().screenshot({ path: join(SHOTS, 'views-narrow-four.png') });
    await page.locator('.path').screenshot({ path: join(SHOTS, 'views-narrow-path.png') });
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

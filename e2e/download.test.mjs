// End-to-end tests of the dataset downloads: a truncated, corrupt, foreign or missing data file
// gets a clear message and the page keeps its data, its models and the visitor's settings; a
// slow download shows how far it got and can be cancelled; a link to the full set that cannot
// be served opens the page on the bundle. DIST names the built page to serve (default dist/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { deflateSync, inflateSync } from 'node:zlib';
import { join } from 'node:path';
import { SHOTS, launch, openPage, byTestId, waitReady, longTasksSince, servePage } from './browser.mjs';

const site = servePage('download-report.json', 'download');
const DIST = process.env.DIST ?? join(process.cwd(), 'dist');

// Waits for a notice containing `text` (a string or a RegExp) and returns its text.
async function noticeWith(page, text, timeout = 60_000) {
  const n = byTestId(page, 'notice').filter({ hasText: text }).last();
  await n.waitFor({ timeout });
  return n.innerText();
}

async function dismissAll(page) {
  const notices = byTestId(page, 'notice');
  while ((await notices.count()) > 0) await notices.first().locator('.dismiss').click();
}

// What the page holds: its data, its models' figures and a setting the visitor changed.
const held = (page) =>
  page.evaluate(() => {
    const q = (id) => document.querySelector(`[data-testid="${id}"]`);
    return {
      dataset: q('dataset-select').value,
      size: q('dataset-size').value,
      info: q('dataset-info').textContent,
      accuracy: q('test-accuracy')?.dataset.value ?? '',
      mse: q('ae-test-mse')?.dataset.value ?? '',
      gallery: [...document.querySelectorAll('[data-testid="gallery-item"]')].map((e) => e.dataset.prediction).join(''),
      epochs: q('epochs').value,
    };
  });

const unlocked = (page) => page.waitForSelector('[data-testid="dataset-select"]:not([disabled])', { timeout: 60_000 });

test('bad data files get a clear message, a slow download shows progress and can be cancelled; data, models and settings are kept', { timeout: 600_000 }, async () => {
  const context = await launch();
  try {
    const page = await openPage(context, site.url + '?backend=cpu');
    await waitReady(page);
    // The pretrained models' figures: the autoencoder's test error comes last.
    await page.waitForFunction(() => document.querySelector('[data-testid="ae-test-mse"]')?.dataset.value, null, { timeout: 60_000 });
    await byTestId(page, 'epochs').fill('3');
    await byTestId(page, 'epochs').blur();
    const before = await held(page);
    assert.ok(before.accuracy && before.mse && before.gallery, `the pretrained models are installed: ${JSON.stringify(before)}`);
    assert.match(before.info, /^MNIST: 12,000 training/);

    // The files are zlib-packed (src/ml/dataset.rs); the browser unpacks them as they arrive.
    const fashion = readFileSync(join(DIST, 'data', 'fashion-bundle.dmpl.zlib'));
    const flipped = Buffer.from(fashion);
    flipped[fashion.length >> 1] ^= 0x20;
    const cutOff = /could not read or unpack data\/fashion-bundle\.dmpl\.zlib: .+; the download may have been cut off or the file damaged/;
    const page404 = '<!DOCTYPE html><html><body>Moved</body></html>';
    const cases = [
      ['truncated', { body: fashion.subarray(0, fashion.length >> 1) }, cutOff],
      ['corrupt', { body: flipped }, /cut off or the file damaged|checksum does not match/],
      ['not packed', { body: inflateSync(fashion) }, cutOff],
      ['packed, but not a dataset', { body: deflateSync(Buffer.from(page404)) }, /not a Dimple dataset file/],
      ['an HTML page', { body: page404, contentType: 'text/html' }, /the server sent a web page \(text\/html\) for data\/fashion-bundle\.dmpl\.zlib, not the data file/],
      ['missing', { status: 404, body: 'not found', contentType: 'text/plain' }, /could not fetch data\/fashion-bundle\.dmpl\.zlib: HTTP 404/],
    ];
    const messages = {};
    for (const [what, reply, message] of cases) {
      await page.route('**/data/fashion-bundle.dmpl.zlib', (r) => r.fulfill({ status: 200, contentType: 'application/octet-stream', ...reply }));
      await byTestId(page, 'dataset-select').selectOption('fashion');
      const text = await noticeWith(page, 'could not be loaded');
      messages[what] = text;
      assert.match(text, message, what);
      assert.match(text, /The MNIST data is kept/, what);
      await unlocked(page);
      assert.deepEqual(await held(page), before, `${what}: data, models and settings kept`);
      await page.unroute('**/data/fashion-bundle.dmpl.zlib');
      await dismissAll(page);
    }
    site.report.messages = messages;

    // A slow line (500 kB/s): the full set's 11 MB would take 23 s.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: 500_000, uploadThroughput: 500_000 });
    const since = await page.evaluate(() => performance.now());
    await byTestId(page, 'dataset-size').selectOption('full');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="download"]')?.dataset.received) > 2e6, null, { timeout: 60_000 });
    const download = byTestId(page, 'download');
    const total = Number(await download.getAttribute('data-total'));
    const full = readFileSync(join(DIST, 'data', 'mnist-full.dmpl.zlib'));
    assert.equal(total, inflateSync(full).length, 'the length read from the header');
    const percent = Number(await byTestId(page, 'download-progress').getAttribute('aria-valuenow'));
    assert.ok(percent > 0 && percent < 100, `progress ${percent}%`);
    assert.match(await download.innerText(), /\d+\.\d MB of 55\.0 MB/);
    await page.screenshot({ path: join(SHOTS, 'download-progress.png') });
    site.report.progress = { received: Number(await download.getAttribute('data-received')), total, percent };
    // The page answers while the bytes come.
    const answered = await Promise.race([
      page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(true)))),
      new Promise((r) => setTimeout(() => r(false), 5_000)),
    ]);
    assert.ok(answered, 'the page answers during the download');
    await byTestId(page, 'download-cancel').click();
    const cancelled = await noticeWith(page, 'cancelled');
    assert.match(cancelled, /Loading the full set of MNIST was cancelled\. The MNIST data is kept\./);
    await unlocked(page);
    assert.equal(await download.count(), 0, 'no download shown after Cancel');
    assert.deepEqual(await held(page), before, 'after Cancel: data, models and settings kept');
    const long = (await longTasksSince(page, since)).map((t) => Math.round(t.duration));
    site.report.longTasksDuringDownload = long;
    assert.ok(long.every((d) => d < 200), `no main-thread task over 200 ms during the download: ${long}`);
    const fast = { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 };
    await cdp.send('Network.emulateNetworkConditions', fast);
    await dismissAll(page);

    // After Cancel the next download starts afresh and runs to the end; its bar only grows
    // (past 43 MB, `got * 100` would overflow a 32-bit count).
    await page.evaluate(() => {
      window.__percents = [];
      new MutationObserver(() => {
        const bar = document.querySelector('[data-testid="download-progress"]');
        if (bar) window.__percents.push(Number(bar.getAttribute('aria-valuenow')));
      }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-valuenow'] });
    });
    await byTestId(page, 'dataset-size').selectOption('full');
    await page.waitForFunction(() => /^MNIST: 60,000 training/.test(document.querySelector('[data-testid="dataset-info"]')?.textContent), null, { timeout: 120_000 });
    const percents = await page.evaluate(() => window.__percents);
    site.report.fullLoadPercents = { count: percents.length, max: Math.max(...percents) };
    assert.ok(percents.length >= 3, `progress shown: ${percents}`);
    assert.ok(percents.every((p, i) => p <= 100 && (i === 0 || p >= percents[i - 1])), `the bar only grows: ${percents}`);
    await unlocked(page);
    assert.equal(await byTestId(page, 'dataset-size').inputValue(), 'full');
    await dismissAll(page);

    // Cancel during the full set's download at the start: the page opens on the bundle.
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: 500_000, uploadThroughput: 500_000 });
    await page.goto(site.url + '?backend=cpu&images=full');
    await byTestId(page, 'download-cancel').click({ timeout: 60_000 });
    await cdp.send('Network.emulateNetworkConditions', fast);
    const startCancelled = await noticeWith(page, 'cancelled');
    assert.match(startCancelled, /^Loading the full set of MNIST was cancelled; opening the bundle \(12,000 training and 2,000 test images\) instead\./);
    await waitReady(page);
    assert.equal(await byTestId(page, 'dataset-size').inputValue(), 'bundle');
    assert.match(await byTestId(page, 'dataset-info').innerText(), /^MNIST: 12,000 training/);

    // A link to the full set that the host cannot serve opens on the bundle.
    await page.route('**/data/mnist-full.dmpl.zlib', (r) => r.fulfill({ status: 200, contentType: 'application/octet-stream', body: full.subarray(0, 1 << 20) }));
    await page.goto(site.url + '?backend=cpu&images=full');
    const fallback = await noticeWith(page, 'Could not load the full set of MNIST');
    assert.match(fallback, /^Could not load the full set of MNIST \(could not read or unpack data\/mnist-full\.dmpl\.zlib: .+; the download may have been cut off or the file damaged\)/);
    assert.match(fallback, /opening the bundle \(12,000 training and 2,000 test images\) instead/);
    await waitReady(page);
    const opened = await held(page);
    assert.equal(opened.size, 'bundle');
    assert.match(opened.info, /^MNIST: 12,000 training/);
    assert.ok(opened.accuracy, 'the pretrained models are installed after the fallback');
    await page.unroute('**/data/mnist-full.dmpl.zlib');

    // Without its data the page says so, and how to recover.
    await page.route('**/data/mnist-bundle.dmpl.zlib', (r) => r.fulfill({ status: 404, contentType: 'text/plain', body: 'not found' }));
    await page.goto(site.url + '?backend=cpu');
    const failed = await noticeWith(page, 'could not be loaded');
    assert.match(failed, /The MNIST data could not be loaded: could not fetch data\/mnist-bundle\.dmpl\.zlib: HTTP 404 .*Reload the page to try again\./);
    await page.waitForFunction(() => document.querySelector('[data-testid="dataset-info"]')?.textContent === 'not loaded');
    assert.ok(await byTestId(page, 'dataset-select').isDisabled(), 'nothing to switch from without data');
    await page.screenshot({ path: join(SHOTS, 'download-missing.png') });
    site.report.missingBundle = failed;
    const errors = page.errors.filter((e) => !/Failed to load resource/.test(e));
    assert.deepEqual(errors, [], 'no errors besides the refused request');
  } finally {
    await context.close();
  }
});

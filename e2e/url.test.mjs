// End-to-end tests of the page's address: every setting round-trips through a shared link into a
// new browser, malformed links get a notice and a working page, the presets retell the paper,
// the embed mode works inside a plain page's iframes, and the page fits three screen sizes.
// Any console error fails a test. DIST names the built page to serve (default: dist/).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { serve } from './server.mjs';
import { SHOTS, launch, openPage, byTestId, waitReady } from './browser.mjs';

let server;
let blog;

before(async () => {
  server = await serve(process.env.DIST ?? join(process.cwd(), 'dist'));
  // The embedding page comes from another origin, as a blog's would.
  blog = await serve(join(process.cwd(), 'e2e'));
});

after(async () => {
  await server.close();
  await blog.close();
});

const value = (page, id) => byTestId(page, id).inputValue();
const attr = (page, id, name) => byTestId(page, id).getAttribute(name);
const notice = (page, re) => byTestId(page, 'notice').filter({ hasText: re }).first().waitFor({ timeout: 20_000 });

// The four views' figures, to compare one browser's result with another's.
async function views(page) {
  await byTestId(page, 'view-off-manifold').waitFor({ timeout: 60_000 });
  const out = {};
  for (const id of ['view-original', 'view-adversarial', 'view-on-manifold', 'view-off-manifold']) {
    const v = byTestId(page, id);
    out[id] = {
      class: await v.getAttribute('data-class'),
      l2: await v.getAttribute('data-l2'),
      linf: await v.getAttribute('data-linf'),
    };
  }
  out.fraction = await attr(page, 'manifold-fraction', 'data-value');
  return out;
}

// Whether the element with test id `id` is on screen and not under the preset's note.
const clearOfNote = (page, id) =>
  page.waitForFunction((id) => {
    const e = document.querySelector(`[data-testid="${id}"]`)?.getBoundingClientRect();
    const note = document.querySelector('[data-testid="preset-note"]')?.getBoundingClientRect();
    return e && note && e.top >= 0 && e.bottom <= note.top;
  }, id, { timeout: 20_000 });

// Waits until the button with test id `id` is enabled (the page has loaded).
const waitReadyIn = (page, id) => page.waitForSelector(`[data-testid="${id}"]:not([disabled])`, { timeout: 120_000 });

// Whether the element's top is on screen (it was scrolled to).
const onScreen = (page, selector) =>
  page.waitForFunction((s) => {
    const e = document.querySelector(s);
    if (!e) return false;
    const top = e.getBoundingClientRect().top;
    return top >= -2 && top < innerHeight * 0.6;
  }, selector, { timeout: 20_000 });

// The settings the shared link carries, each different from its default.
const SETTINGS = {
  model: ['model-select', 'cnn'],
  epochs: ['epochs', '3'],
  lr: ['learning-rate', '0.001'],
  k: ['latent-k', '8'],
  digit: null,
  norm: ['attack-norm', 'l2'],
  eps: ['attack-eps', '3'],
  step: ['attack-step', '0.1'],
  steps: ['attack-steps', '120'],
  target: ['attack-target', '2'],
  search: ['attack-search', '5'],
  plane: ['slice-axes', 'd-random'],
  range_h: ['slice-range-1', '4'],
  cells: ['slice-resolution', '48'],
  world: ['toy-world', 'sine'],
  points: ['toy-count', '20'],
  width: ['toy-width', '32'],
  activation: ['toy-activation', 'tanh'],
  toy_epochs: ['toy-epochs', '50'],
};

async function assertControls(page, settings) {
  for (const [key, control] of Object.entries(settings)) {
    if (!control) continue;
    const [id, expected] = control;
    assert.equal(await value(page, id), expected, `${key} shows in ${id}`);
  }
}

test('a shared link reproduces the same view in a new browser', { timeout: 300_000 }, async () => {
  const query = Object.entries(SETTINGS)
    .map(([k, c]) => `${k}=${k === 'digit' ? '3' : c[1]}`)
    .join('&');
  const first = await launch({ viewport: { width: 1280, height: 800 } });
  let link;
  let shown;
  try {
    await first.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    const page = await openPage(first, `${server.url}?backend=cpu&${query}&panel=slice`);
    await waitReady(page);
    await assertControls(page, SETTINGS);
    await byTestId(page, 'chosen-caption').filter({ hasText: 'test digit #3' }).waitFor({ timeout: 60_000 });
    shown = await views(page);
    assert.equal(shown['view-adversarial'].class, '2', 'the targeted attack makes it a 2');
    await onScreen(page, '#slice-title');
    assert.deepEqual(await byTestId(page, 'notice').allInnerTexts(), [], 'a valid link gets no notice');

    // Settings changed on the page go into the link too (and into the address bar).
    await byTestId(page, 'toy-noise').fill('0.05');
    await byTestId(page, 'slice-range-2').fill('3.5');
    await byTestId(page, 'share').click();
    await byTestId(page, 'share-status').filter({ hasText: /Copied|Copy the link/ }).waitFor();
    link = await value(page, 'share-link');
    assert.ok(link.startsWith(server.url), link);
    for (const part of ['eps=3', 'steps=120', 'target=2', 'digit=3', 'plane=d-random', 'world=sine', 'noise=0.05', 'range_v=3.5', 'panel=slice', 'backend=cpu']) {
      assert.ok(link.includes(part), `${part} in ${link}`);
    }
    assert.equal(await page.evaluate(() => location.href), link, 'the address bar holds the same link');
    if ((await byTestId(page, 'share-status').innerText()).startsWith('Copied')) {
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), link);
    }
    await page.screenshot({ path: join(SHOTS, 'url-share.png') });
    assert.deepEqual(page.errors, []);
  } finally {
    await first.close();
  }

  // A new browser, a new profile: the link alone brings everything back.
  const second = await launch({ viewport: { width: 1280, height: 800 } });
  try {
    const page = await openPage(second, link);
    await waitReady(page);
    await assertControls(page, { ...SETTINGS, noise: ['toy-noise', '0.05'], range_v: ['slice-range-2', '3.5'] });
    await byTestId(page, 'chosen-caption').filter({ hasText: 'test digit #3' }).waitFor({ timeout: 60_000 });
    assert.deepEqual(await views(page), shown, 'the same four views, to the last digit');
    assert.equal(await page.evaluate(() => location.href), link, 'the link is already canonical');
    assert.deepEqual(page.errors, []);
  } finally {
    await second.close();
  }
});

test('malformed links get a notice and a working page', { timeout: 600_000 }, async () => {
  const cases = [
    ['eps=abc', /eps to “abc”.*using the default, 2/, ['attack-eps', '2']],
    ['eps=1e999', /eps to “1e999”/, ['attack-eps', '2']],
    ['steps=-5', /steps to “-5”.*whole number from 1 to 1000/, ['attack-steps', '200']],
    ['steps=99999999999999999999999', /steps to “9+”/, ['attack-steps', '200']],
    ['model=resnet', /model to “resnet”.*one of mlp, cnn/, ['model-select', 'mlp']],
    ['foo=1&bar=2', /does not know.*“foo”, “bar”/, null],
    ['%E0%A4%A=1', /not properly encoded.*%E0%A4%A=1/, null],
    ['%FF=1&k=%FF', /not properly encoded/, ['latent-k', '16']],
    [`eps=${'9'.repeat(10_000)}`, /eps to “9{40}…” \(10000 characters\)/, ['attack-eps', '2']],
    [`${'x'.repeat(10_000)}=1`, /does not know.*\(10000 characters\)/, null],
    ['digit=99999', /digit to “99999”/, null],
    ['digit=1999999&dataset=mnist', /digit/, null],
    ['digit=5000', /test image #5000.*2000 images/, null],
    ['norm=linf', /L∞ attack with eps 2.*using eps 0\.1/, ['attack-eps', '0.1']],
    ['eps=2&eps=3&eps=4', /eps more than once/, ['attack-eps', '4']],
    ['preset=nope', /unknown preset “nope”/, null],
    ['lr=NaN&k=1.5&world=moon', /lr to “NaN”/, ['learning-rate', '0.003']],
    ['dataset=fashion&images=full', /full set of Fashion-MNIST/, ['dataset-size', 'bundle']],
    // A valid link to the other dataset: no notice, Fashion-MNIST loaded (no pretrained models).
    ['dataset=fashion&model=cnn&target=', null, ['dataset-select', 'fashion']],
    ['embed=1&panel=data', /cannot be shown alone/, null],
    ['panel=%3Cscript%3Ealert(1)%3C/script%3E', /panel to “<script>alert\(1\)<\/script>”/, null],
  ];
  const context = await launch({ viewport: { width: 1280, height: 800 } });
  try {
    for (const [query, message, control] of cases) {
      const page = await openPage(context, `${server.url}?backend=cpu&${query}`);
      if (message) await notice(page, message);
      if (query.startsWith('embed=1')) {
        // Embedded with a panel that cannot stand alone: the four views instead.
        await byTestId(page, 'embed').waitFor();
        await byTestId(page, 'view-adversarial').waitFor({ timeout: 60_000 });
      } else {
        await waitReady(page);
        if (!query.startsWith('dataset=fashion')) await byTestId(page, 'view-adversarial').waitFor({ timeout: 60_000 });
      }
      if (!message) assert.deepEqual(await byTestId(page, 'notice').allInnerTexts(), [], query);
      const texts = await byTestId(page, 'notice').allInnerTexts();
      assert.equal(new Set(texts).size, texts.length, `${query.slice(0, 40)}: each problem is said once`);
      if (control) assert.equal(await value(page, control[0]), control[1], `${query.slice(0, 40)}: ${control[0]}`);
      // The address is clean again: only valid settings are left in it.
      const search = await page.evaluate(() => location.search);
      assert.ok(search.length < 200 && !/abc|resnet|foo|%FF|%E0/.test(search), `${query.slice(0, 40)} left ${search.slice(0, 80)}`);
      assert.deepEqual(page.errors, [], query.slice(0, 40));
    }
    const page = context.pages()[0];
    await page.goto(`${server.url}?backend=cpu&eps=abc&steps=-5&foo=1&%E0%A4%A=1`);
    await notice(page, /eps to “abc”/);
    await notice(page, /steps to “-5”/);
    await notice(page, /“foo”/);
    await notice(page, /not properly encoded/);
    await byTestId(page, 'view-adversarial').waitFor({ timeout: 60_000 });
    await page.screenshot({ path: join(SHOTS, 'url-malformed.png') });
  } finally {
    await context.close();
  }
});

test('the presets retell the paper, one click each', { timeout: 400_000 }, async () => {
  const context = await launch({ viewport: { width: 1280, height: 800 } });
  try {
    const page = await openPage(context, `${server.url}?backend=cpu`);
    await waitReady(page);
    await byTestId(page, 'view-adversarial').waitFor({ timeout: 60_000 });
    const ids = await page.locator('[data-testid^="preset-"]:not([data-testid="preset-note"])').evaluateAll((els) => els.map((e) => e.dataset.testid));
    assert.deepEqual(ids, ['preset-clinging', 'preset-on-off', 'preset-random-subspace', 'preset-adversarial-training', 'preset-wrong-labels']);

    // Clinging: the paper's toy world, trained at once, scrolled to.
    await byTestId(page, 'toy-world').selectOption('circle');
    await byTestId(page, 'preset-clinging').click();
    assert.equal(await value(page, 'toy-world'), 'paper');
    await page.waitForSelector('[data-testid="toy-state"][data-state="finished"]', { timeout: 120_000 });
    await onScreen(page, '#toy-title');
    assert.equal(await attr(page, 'preset-note', 'data-preset'), 'clinging');
    assert.equal(await attr(page, 'preset-clinging', 'aria-pressed'), 'true');
    assert.match(await page.evaluate(() => location.search), /preset=clinging/);
    await page.screenshot({ path: join(SHOTS, 'url-preset-clinging.png') });

    // On vs off, from the note's Next button: test digit #0 attacked again with the defaults.
    await byTestId(page, 'attack-eps').fill('1.5');
    const before = Number(await attr(page, 'attack-results', 'data-run'));
    await byTestId(page, 'preset-next').click();
    assert.equal(await attr(page, 'preset-note', 'data-preset'), 'on-off');
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid="attack-results"]')?.dataset.run) > n, before, { timeout: 60_000 });
    assert.equal(await value(page, 'attack-eps'), '2');
    assert.equal(await value(page, 'slice-axes'), 'on-off');
    await byTestId(page, 'chosen-caption').filter({ hasText: 'test digit #0' }).waitFor();
    await onScreen(page, '[data-testid="attack-results"]');
    await page.screenshot({ path: join(SHOTS, 'url-preset-on-off.png') });

    // The random-subspace control: the share on the manifold against a random subspace.
    await byTestId(page, 'preset-random-subspace').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="slice-axes"]').value === 'on-random');
    await onScreen(page, '[data-testid="manifold-fraction"]');
    assert.match(await byTestId(page, 'preset-note').innerText(), /random subspace/);

    // The experiments: scrolled to the card, with what to click.
    await byTestId(page, 'preset-adversarial-training').click();
    await clearOfNote(page, 'exp-advtrain-run');
    assert.match(await byTestId(page, 'preset-note').innerText(), /Press Run/);
    await byTestId(page, 'preset-wrong-labels').click();
    await clearOfNote(page, 'exp-mislabeled-run');
    assert.equal(await byTestId(page, 'preset-next').count(), 0, 'the last step has no next');
    await page.screenshot({ path: join(SHOTS, 'url-preset-wrong-labels.png') });
    await byTestId(page, 'preset-close').click();
    assert.equal(await byTestId(page, 'preset-note').count(), 0, 'the note closes');
    assert.match(await page.evaluate(() => location.search), /preset=wrong-labels/);
    assert.deepEqual(page.errors, []);

    // A preset in a link: its settings, its note, its panel.
    const linked = await openPage(context, `${server.url}?backend=cpu&preset=clinging&width=16`);
    await waitReady(linked);
    assert.equal(await value(linked, 'toy-world'), 'paper');
    assert.equal(await value(linked, 'toy-width'), '16');
    assert.equal(await attr(linked, 'preset-note', 'data-preset'), 'clinging');
    await onScreen(linked, '#toy-title');
    assert.deepEqual(linked.errors, []);
  } finally {
    await context.close();
  }
});

test('embed mode inside a plain page', { timeout: 300_000 }, async () => {
  const context = await launch({ viewport: { width: 1280, height: 800 } });
  try {
    const page = await openPage(context, `${blog.url}embed.html?src=${encodeURIComponent(server.url)}`);
    const frames = { views: page.frameLocator('#views'), toy: page.frameLocator('#toy') };
    await frames.views.locator('[data-testid="view-adversarial"]').waitFor({ timeout: 120_000 });
    await frames.toy.locator('[data-testid="toy-boundary-plot"]').waitFor({ timeout: 120_000 });
    for (const [panel, frame] of Object.entries(frames)) {
      assert.equal(await frame.locator('header.top').count(), 0, `${panel}: no page header`);
      assert.equal(await frame.locator('[data-testid="share"]').count(), 0, `${panel}: no share button`);
      assert.equal(await frame.locator('section.panel').count(), 1, `${panel}: one panel`);
      const open = frame.locator('[data-testid="open-in-dimple"]');
      assert.equal(await open.getAttribute('target'), '_blank');
      const href = await open.getAttribute('href');
      assert.ok(href.startsWith(server.url) && href.includes(`panel=${panel}`) && !href.includes('embed'), href);
    }
    assert.equal(await frames.toy.locator('[data-testid="toy-world"]').inputValue(), 'paper');
    // The panel fits its iframe's width, and the iframe takes the height the panel reports:
    // nothing scrolls inside.
    await page.waitForFunction(() => [...document.querySelectorAll('iframe')].every((f) => parseInt(f.style.height) > 700));
    for (const f of page.frames().slice(1)) {
      await f.waitForFunction(() => document.documentElement.scrollHeight <= innerHeight + 1, null, { timeout: 10_000 });
      const [scroll, width] = await f.evaluate(() => [document.documentElement.scrollWidth, innerWidth]);
      assert.ok(scroll <= width, `${f.url()}: ${scroll}px wide in ${width}px`);
    }
    await page.screenshot({ path: join(SHOTS, 'embed-page.png'), fullPage: true });
    await page.locator('#views').screenshot({ path: join(SHOTS, 'embed-views.png') });
    await page.locator('#toy').screenshot({ path: join(SHOTS, 'embed-toy.png') });

    // "Open in Dimple" opens the whole page with the same settings.
    const [opened] = await Promise.all([context.waitForEvent('page'), frames.toy.locator('[data-testid="open-in-dimple"]').click()]);
    opened.errors = [];
    opened.on('console', (m) => m.type() === 'error' && opened.errors.push(m.text()));
    opened.on('response', (r) => r.status() >= 400 && opened.errors.push(`${r.status()} ${r.url()}`));
    await waitReady(opened);
    assert.equal(await opened.locator('header.top').count(), 1);
    assert.equal(await value(opened, 'toy-world'), 'paper');
    assert.deepEqual(opened.errors, []);
    await opened.close();

    // A narrow screen: the embedding page and its frames still fit.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(500);
    for (const f of page.frames().slice(1)) {
      const [scroll, width] = await f.evaluate(() => [document.documentElement.scrollWidth, innerWidth]);
      assert.ok(scroll <= width, `${f.url()} at 390 px: ${scroll}px wide in ${width}px`);
    }
    await page.screenshot({ path: join(SHOTS, 'embed-page-390.png'), fullPage: true });
    await page.locator('#views').screenshot({ path: join(SHOTS, 'embed-views-390.png') });
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

test('the page fits 1280x800, 768x1024 and 390x844', { timeout: 300_000 }, async () => {
  const context = await launch({ viewport: { width: 1280, height: 800 } });
  try {
    const page = await openPage(context, `${server.url}?backend=cpu&preset=on-off`);
    await waitReady(page);
    await byTestId(page, 'view-off-manifold').waitFor({ timeout: 60_000 });
    await byTestId(page, 'share').click();
    await byTestId(page, 'share-link').waitFor();
    for (const [width, height] of [[1280, 800], [768, 1024], [390, 844]]) {
      await page.setViewportSize({ width, height });
      await page.waitForTimeout(600);
      const [scroll, inner] = await page.evaluate(() => [document.documentElement.scrollWidth, innerWidth]);
      assert.ok(scroll <= inner, `${width}x${height}: the page is ${scroll}px wide`);
      await page.screenshot({ path: join(SHOTS, `url-${width}x${height}.png`), fullPage: true });
      await page.evaluate(() => scrollTo(0, 0));
      await page.screenshot({ path: join(SHOTS, `url-${width}x${height}-top.png`) });
    }
    // The other panels embed too: the slice (with its attack out of sight) and the experiments.
    const slice = await openPage(context, `${server.url}?backend=cpu&embed=1&panel=slice&plane=on-random`);
    await slice.waitForFunction(() => document.querySelector('[data-testid="slice-status"]')?.dataset.ms, null, { timeout: 60_000 });
    assert.equal(await slice.locator('section.panel:visible').count(), 1, 'only the slice shows');
    assert.equal(await value(slice, 'slice-axes'), 'on-random');
    await slice.screenshot({ path: join(SHOTS, 'embed-slice.png') });
    assert.deepEqual(slice.errors, []);
    const lab = await openPage(context, `${server.url}?backend=cpu&embed=1&panel=experiments`);
    await byTestId(lab, 'exp-advtrain').waitFor();
    await waitReadyIn(lab, 'exp-norms-run');
    assert.deepEqual(lab.errors, []);
    for (const [width, height] of [[1280, 800], [390, 844]]) {
      const embed = await openPage(context, `${server.url}?backend=cpu&embed=1&panel=views`);
      await embed.setViewportSize({ width, height });
      await byTestId(embed, 'view-off-manifold').waitFor({ timeout: 60_000 });
      const [scroll, inner] = await embed.evaluate(() => [document.documentElement.scrollWidth, innerWidth]);
      assert.ok(scroll <= inner, `embedded at ${width}x${height}: ${scroll}px wide`);
      await embed.screenshot({ path: join(SHOTS, `embed-views-${width}x${height}.png`) });
      assert.deepEqual(embed.errors, []);
    }
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

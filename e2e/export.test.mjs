// End-to-end test of the exports (issue 6): the four views as one PNG strip whose pictures are
// the page's own, each panel as a PNG figure, and the numbers behind the four views, the
// slice, the training curves and the toy world's phase as CSV that agrees with the page. On
// the CPU backend, starting from the shipped models; any console error fails the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SHOTS, launch, openPage, byTestId, waitReady, servePage } from './browser.mjs';

const server = servePage('export-report.json', 'export');
const report = server.report;

const inPanel = (page, panel, id) => page.locator(`[data-testid="${id}"][data-panel="${panel}"]`);

// Clicks `button` and returns the download's suggested name and bytes.
async function download(page, button) {
  const [file] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), button.click()]);
  return { name: file.suggestedFilename(), bytes: await readFile(await file.path()) };
}

// Width and height from a PNG's header, after checking its signature.
function pngSize(bytes) {
  assert.deepEqual([...bytes.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], 'a PNG signature');
  assert.equal(bytes.subarray(12, 16).toString('latin1'), 'IHDR');
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

// Decodes `bytes` (a PNG) in the page and returns the RGB at each point, and how many colours
// cover the picture (to tell a figure from a blank picture).
const pngPixels = (page, bytes, points) =>
  page.evaluate(
    async ([b64, points]) => {
      const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const bitmap = await createImageBitmap(new Blob([raw], { type: 'image/png' }));
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const ctx = canvas.getContext('2d');
      ctx.drawImage(bitmap, 0, 0);
      const data = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
      const at = ([x, y]) => {
        const i = 4 * (Math.round(y) * bitmap.width + Math.round(x));
        return [data[i], data[i + 1], data[i + 2]];
      };
      const colours = new Set();
      for (let i = 0; i < data.length; i += 4 * 97) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
      return { rgb: points.map(at), colours: colours.size };
    },
    [bytes.toString('base64'), points],
  );

// Where the strip should show each four-views picture: sample points at the centres of the
// pictures' pixels (strip coordinates, device pixels) and the colour the page's canvas has
// there. Mirrors the strip's layout: 12 px margins, each figure at its rounded-up CSS width.
const stripExpectations = (page) =>
  page.evaluate(() => {
    const scale = Math.max(1, window.devicePixelRatio);
    const figures = [...document.querySelectorAll('.four-views > figure.view')];
    const expected = [];
    let x0 = 12;
    for (const figure of figures) {
      const f = figure.getBoundingClientRect();
      const canvas = figure.querySelector('canvas.big');
      const c = canvas.getBoundingClientRect();
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      for (const u of [0.2, 0.4, 0.5, 0.6, 0.8]) {
        for (const v of [0.3, 0.5, 0.7]) {
          const i = Math.floor(u * canvas.width);
          const j = Math.floor(v * canvas.height);
          const k = 4 * (j * canvas.width + i);
          expected.push({
            at: [
              (x0 + (c.left - f.left) + ((i + 0.5) / canvas.width) * c.width) * scale,
              (12 + (c.top - f.top) + ((j + 0.5) / canvas.height) * c.height) * scale,
            ],
            rgb: [data[k], data[k + 1], data[k + 2]],
          });
        }
      }
      x0 += Math.ceil(f.width) + 12;
    }
    const heights = figures.map((f) => Math.ceil(f.getBoundingClientRect().height));
    return { scale, expected, width: x0, height: Math.max(...heights) + 24, figures: figures.length };
  });

// The rows of a CSV text (RFC 4180 quoting; no line breaks inside fields here).
const csvRows = (text) =>
  text
    .trim()
    .split('\n')
    .map((line) => {
      const fields = [];
      let field = '';
      let quoted = false;
      for (let i = 0; i < line.length; i++) {
        const c = line[i];
        if (quoted && c === '"' && line[i + 1] === '"') {
          field += '"';
          i++;
        } else if (c === '"') {
          quoted = !quoted;
        } else if (c === ',' && !quoted) {
          fields.push(field);
          field = '';
        } else {
          field += c;
        }
      }
      fields.push(field);
      return fields;
    });

test('exports: four-views strip, panel figures, CSV that agrees with the page', { timeout: 900_000 }, async () => {
  const context = await launch();
  try {
    const page = await openPage(context, server.url + '?backend=cpu');
    await waitReady(page);
    await page.waitForSelector('[data-testid="attack-results"]', { timeout: 120_000 });
    await page.waitForSelector('[data-testid="attack-status"][data-busy="false"]');

    // The four views as one strip: one row, the page's own pictures in order.
    const layout = await stripExpectations(page);
    assert.equal(layout.figures, 4);
    const strip = await download(page, inPanel(page, 'views', 'export-png-strip'));
    assert.equal(strip.name, 'dimple-four-views-test0.png');
    const size = pngSize(strip.bytes);
    assert.equal(size.width, Math.round(layout.width * layout.scale), 'four figures side by side');
    assert.equal(size.height, Math.round(layout.height * layout.scale), 'one row');
    const sampled = await pngPixels(page, strip.bytes, layout.expected.map((e) => e.at));
    layout.expected.forEach((e, i) => {
      const got = sampled.rgb[i];
      assert.ok(
        got.every((v, c) => Math.abs(v - e.rgb[c]) <= 2),
        `strip pixel ${i} at ${e.at.map(Math.round)}: ${got} where the page shows ${e.rgb}`,
      );
    });
    assert.ok(sampled.colours > 50, `a figure, not a blank picture (${sampled.colours} colours)`);
    report.strip = { ...size, colours: sampled.colours, bytes: strip.bytes.length };
    await writeFile(join(SHOTS, 'export-strip.png'), strip.bytes);

    // The whole panel as a figure: the panel's width plus margins, at the screen's pixel ratio;
    // shorter than the panel by the rows of controls left out.
    const box = await page.evaluate(() => {
      const r = document.querySelector('[data-testid="attack-results"]').closest('section.panel').getBoundingClientRect();
      return { width: Math.ceil(r.width), height: Math.ceil(r.height) };
    });
    const panel = await download(page, inPanel(page, 'views', 'export-png'));
    assert.equal(panel.name, 'dimple-four-views-test0.png');
    const panelSize = pngSize(panel.bytes);
    assert.equal(panelSize.width, (box.width + 24) * layout.scale);
    assert.ok(panelSize.height < (box.height + 24) * layout.scale, `${panelSize.height} px: the controls' rows are cut`);
    assert.ok(panelSize.height > 0.5 * (box.height + 24) * layout.scale, `${panelSize.height} px: little else is cut`);
    report.views_panel = panelSize;
    await writeFile(join(SHOTS, 'export-views-panel.png'), panel.bytes);

    // The four views' numbers: a row per picture, agreeing with what the page shows.
    const views = await download(page, inPanel(page, 'views', 'export-csv'));
    assert.equal(views.name, 'dimple-four-views-test0.csv');
    const rows = csvRows(views.bytes.toString('utf8'));
    const header = rows[0];
    assert.deepEqual(header.slice(0, 8), ['view', 'formula', 'class', 'confidence', 'L2', 'Linf', 'flipped', 'outside subspace']);
    assert.deepEqual(header.slice(8), [...Array(10).keys()].map((c) => `p(${c})`));
    assert.equal(rows.length, 1 + 8, 'four views and four restricted attacks');
    const ids = ['view-original', 'view-adversarial', 'view-on-manifold', 'view-off-manifold', 'view-restricted-plain', 'view-restricted-on', 'view-restricted-off', 'view-restricted-random'];
    for (const [i, id] of ids.entries()) {
      const figure = byTestId(page, id);
      const row = rows[i + 1];
      assert.equal(row[2], await figure.getAttribute('data-class'), `${id}: class`);
      assert.ok(Math.abs(Number(row[3]) - Number(await figure.getAttribute('data-confidence'))) < 1e-3, `${id}: confidence`);
      assert.ok(Math.abs(Number(row[4]) - Number(await figure.getAttribute('data-l2'))) < 1e-3, `${id}: L2`);
      // The share outside its subspace, for the three restricted attacks only.
      const outside = await figure.getAttribute('data-outside');
      assert.equal(row[7] === '', outside === null, `${id}: outside subspace`);
      if (outside !== null) assert.ok(Math.abs(Number(row[7]) - Number(outside)) < 1e-3 && Number(row[7]) <= 1, `${id}: outside subspace ${row[7]}`);
      const p = row.slice(8).map(Number);
      assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-3, `${id}: probabilities sum to 1`);
      assert.equal(p.indexOf(Math.max(...p)), Number(row[2]), `${id}: the class is the most probable`);
    }
    assert.equal(Number(rows[1][4]), 0, 'x is its own origin');

    // The slice: every cell's class, and the margin profiles.
    await page.waitForFunction(() => {
      const plot = document.querySelector('[data-testid="slice-plot"]');
      const status = document.querySelector('[data-testid="slice-status"]');
      return plot && status.dataset.busy === 'false';
    }, null, { timeout: 120_000 });
    const slice = await download(page, inPanel(page, 'slice', 'export-csv'));
    assert.equal(slice.name, 'dimple-slice.csv');
    const [grid, profiles] = slice.bytes.toString('utf8').split(/\n(?=# )/);
    assert.match(grid, /^# slice: Class of x \+ a e1 \+ b e2/);
    const cells = csvRows(grid).slice(1);
    assert.deepEqual(cells[0], ['a', 'b', 'class']);
    const resolution = Number(await byTestId(page, 'slice-plot').getAttribute('data-resolution'));
    assert.equal(cells.length - 1, resolution * resolution);
    const classes = new Set(cells.slice(1).map((c) => Number(c[2])));
    const shown = (await byTestId(page, 'slice-plot').getAttribute('data-classes')).split(',').map(Number);
    assert.deepEqual([...classes].sort(), [...shown].sort(), 'the same classes as the map');
    const nearest = cells.slice(1).reduce((best, c) => (Math.hypot(c[0], c[1]) < Math.hypot(best[0], best[1]) ? c : best));
    assert.equal(Number(nearest[2]), Number(await byTestId(page, 'slice-plot').getAttribute('data-class')), 'x keeps its class');
    assert.match(profiles, /^# profiles: Margin of class \d/);
    const along = csvRows(profiles).slice(1);
    assert.equal(along[0].length, 3);
    const origin = along.slice(1).reduce((best, r) => (Math.abs(r[0]) < Math.abs(best[0]) ? r : best));
    assert.ok(origin.slice(1).filter((v) => v !== '').every((v) => Number(v) > 0), `x's margin is positive: ${origin}`);
    const slicePng = await download(page, inPanel(page, 'slice', 'export-png'));
    report.slice_panel = pngSize(slicePng.bytes);
    await writeFile(join(SHOTS, 'export-slice-panel.png'), slicePng.bytes);

    // Training curves: nothing to export for the shipped model; after training, a row per
    // step with each epoch's test accuracy.
    assert.ok(await inPanel(page, 'train', 'export-csv').isDisabled(), 'no curves before training');
    await byTestId(page, 'epochs').fill('2');
    await byTestId(page, 'train-start').click();
    await page.waitForSelector('[data-testid="train-state"][data-state="finished"]', { timeout: 300_000 });
    const training = await download(page, inPanel(page, 'train', 'export-csv'));
    const curve = csvRows(training.bytes.toString('utf8'));
    assert.equal(training.bytes.toString('utf8').split('\n')[0], 'epoch,training loss,"training accuracy (%, smoothed)",test accuracy (%)');
    const steps = Number(await byTestId(page, 'train-step').getAttribute('data-done'));
    assert.equal(curve.length - 1, steps, 'a row per step');
    const tested = curve.slice(1).filter((r) => r[r.length - 1] !== '');
    assert.deepEqual(tested.map((r) => Number(r[0])), [1, 2], 'test accuracy at the end of each epoch');
    const accuracy = Number(await byTestId(page, 'test-accuracy').getAttribute('data-value'));
    assert.ok(Math.abs(Number(tested[1].at(-1)) - accuracy) < 0.01, `last test accuracy ${tested[1].at(-1)} vs ${accuracy}`);
    report.training_rows = curve.length - 1;
    const trainPng = await download(page, inPanel(page, 'train', 'export-png'));
    report.train_panel = pngSize(trainPng.bytes);
    await writeFile(join(SHOTS, 'export-train-panel.png'), trainPng.bytes);

    // The toy world: a row per recorded epoch, the same numbers as the page's phase readout.
    await byTestId(page, 'toy-epochs').fill('30');
    await byTestId(page, 'toy-train-start').click();
    await page.waitForSelector('[data-testid="toy-state"][data-state="finished"]', { timeout: 120_000 });
    const toy = await download(page, inPanel(page, 'toy', 'export-csv'));
    const phase = csvRows(toy.bytes.toString('utf8'));
    assert.equal(toy.bytes.toString('utf8').split('\n')[0], 'epoch,loss,distance (first order),distance (contour),"|cos(gradient, normal)|"');
    const distances = (await byTestId(page, 'toy-phase').getAttribute('data-distances')).split(',').map(Number);
    assert.equal(phase.length - 1, distances.length, 'a row per recorded epoch');
    phase.slice(1).forEach((r, i) => assert.ok(Math.abs(Number(r[3]) - distances[i]) < 1e-4, `epoch ${r[0]}: ${r[3]} vs ${distances[i]}`));
    const toyPng = await download(page, inPanel(page, 'toy', 'export-png'));
    report.toy_panel = pngSize(toyPng.bytes);
    await writeFile(join(SHOTS, 'export-toy-panel.png'), toyPng.bytes);

    // In the dark scheme the figure is drawn on the dark page colour.
    await page.emulateMedia({ colorScheme: 'dark' });
    const dark = await download(page, inPanel(page, 'views', 'export-png-strip'));
    const corner = (await pngPixels(page, dark.bytes, [[3, 3]])).rgb[0];
    const light = (await pngPixels(page, strip.bytes, [[3, 3]])).rgb[0];
    assert.ok(corner.every((v) => v < 80) && light.every((v) => v > 170), `dark ${corner}, light ${light}`);
    await writeFile(join(SHOTS, 'export-strip-dark.png'), dark.bytes);

    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

// Security end-to-end tests: over a whole session (load with the pretrained models, train,
// train the autoencoder, attack, slice, toy world, draw, upload, switch datasets, and WebGPU
// start-up with SwiftShader) the page requests nothing outside its own origin (checked in
// the browser's request log) and breaks none of its own Content-Security-Policy rules
// (`securitypolicyviolation` events). The policy itself is checked to be strict: it allows
// no inline code and no eval, and an injected inline script, inline event handler, inline
// style and a request to another origin are all refused.
// DIST names the built page to serve (default dist/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { launch, openPage, byTestId, waitReady, servePage, trainModels, drawOne } from './browser.mjs';

const DIST = process.env.DIST ?? join(process.cwd(), 'dist');
const server = servePage('security-report.json', 'security');
const report = server.report;

// The directives the page must carry, and what each must (not) allow.
const REQUIRED = {
  'default-src': ["'self'"],
  'script-src': ["'self'", "'wasm-unsafe-eval'"],
  'style-src': ["'self'"],
  'img-src': ["'self'", 'data:', 'blob:'],
  'connect-src': ["'self'"],
  'object-src': ["'none'"],
  'base-uri': ["'none'"],
};

// Opens a browser whose pages record every request and every CSP violation.
async function recordingBrowser(options) {
  const context = await launch(options);
  await context.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) =>
      window.__violations.push({ directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample, source: `${e.sourceFile}:${e.lineNumber}:${e.columnNumber}` }),
    );
  });
  const requests = [];
  context.on('request', (r) => requests.push(r.url()));
  return { context, requests };
}

const violations = (page) => page.evaluate(() => window.__violations);

// Every request whose origin is not the server's; data: and blob: URLs never leave the page.
function foreign(requests) {
  const origin = new URL(server.url).origin;
  return requests.filter((u) => !/^(data|blob):/.test(u) && new URL(u).origin !== origin);
}

const waitAttack = (page, previous, timeout = 180_000) =>
  page.waitForFunction(
    (prev) => {
      const r = document.querySelector('[data-testid="attack-results"]');
      const status = document.querySelector('[data-testid="attack-status"]');
      return r && r.dataset.run !== prev && status.dataset.busy === 'false';
    },
    previous,
    { timeout },
  );
const runId = (page) => page.evaluate(() => document.querySelector('[data-testid="attack-results"]')?.dataset.run ?? null);

test('the built page carries a strict Content-Security-Policy and no inline script', async () => {
  const html = await readFile(join(DIST, 'index.html'), 'utf8');
  const meta = html.match(/<meta http-equiv="Content-Security-Policy" content="([^"]+)"/);
  assert.ok(meta, 'index.html has a CSP meta element');
  const policy = Object.fromEntries(
    meta[1]
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([name, ...values]) => [name, values]),
  );
  report.policy = meta[1];
  for (const [name, values] of Object.entries(REQUIRED)) {
    assert.deepEqual(policy[name], values, `${name} in ${meta[1]}`);
  }
  for (const [name, values] of Object.entries(policy)) {
    assert.ok(!values.includes("'unsafe-inline'") && !values.includes("'unsafe-eval'") && !values.includes('*'), `${name}: ${values}`);
  }
  // Every script is a file of the page's own (the loader too): no inline script at all.
  const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
  assert.ok(scripts.length > 0);
  for (const [, attrs, body] of scripts) {
    assert.match(attrs, /\bsrc="\//, `a script without src: ${attrs}`);
    assert.equal(body.trim(), '');
  }
  assert.doesNotMatch(html, /\sstyle="/, 'no inline style attribute');
});

test('a whole CPU session stays on its own origin and within its policy', { timeout: 900_000 }, async () => {
  const { context, requests } = await recordingBrowser();
  try {
    const page = await openPage(context, server.url);
    await waitReady(page);
    // The pretrained models attack test digit #0 at once.
    await waitAttack(page, null);
    await page.waitForFunction(() => document.querySelector('[data-testid="test-accuracy"]')?.dataset.value);

    // The policy is enforced, not just present: an inline script, an inline event handler, an
    // inline style and a request to another origin are all refused.
    const refused = await page.evaluate(async () => {
      const s = document.createElement('script');
      s.textContent = 'window.__inlineRan = true';
      document.body.append(s);
      const handler = document.createElement('button');
      handler.setAttribute('onclick', 'window.__handlerRan = true');
      document.body.append(handler);
      handler.click();
      handler.remove();
      let fetchRefused = false;
      try {
        await fetch('https://example.com/');
      } catch {
        fetchRefused = true;
      }
      const styled = document.createElement('div');
      styled.innerHTML = '<p style="color: rgb(255, 0, 0)">injected</p>';
      document.body.append(styled);
      const inlineStyle = getComputedStyle(styled.firstChild).color === 'rgb(255, 0, 0)';
      styled.remove();
      s.remove();
      return { inline: window.__inlineRan === true, handler: window.__handlerRan === true, fetchRefused, inlineStyle };
    });
    assert.deepEqual(refused, { inline: false, handler: false, fetchRefused: true, inlineStyle: false });
    const provoked = await violations(page);
    report.provoked_violations = provoked.map((v) => v.directive);
    for (const d of ['script-src-elem', 'script-src-attr', 'connect-src', 'style-src-attr']) {
      assert.ok(provoked.some((v) => v.directive === d), `no ${d} violation in ${JSON.stringify(provoked)}`);
    }
    // The browser reports each refusal on the console; those are expected here.
    assert.ok(page.errors.length >= 4 && page.errors.every((e) => /Content Security Policy/.test(e)), page.errors.join('\n'));
    page.errors.length = 0;
    await page.evaluate(() => (window.__violations = []));
    // The refused request never left the page.
    assert.deepEqual(foreign(requests), []);

    // Train the classifier and the autoencoder for one epoch each.
    await trainModels(page, {}, 300_000);

    // Attack a random digit, then a drawn one, then an uploaded picture.
    let previous = await runId(page);
    await byTestId(page, 'random-digit').click();
    await byTestId(page, 'attack-run').click();
    await waitAttack(page, previous);
    await drawOne(page);
    previous = await runId(page);
    await byTestId(page, 'attack-run').click();
    await waitAttack(page, previous);
    // A PNG made by the page's own canvas: a white 1 on black.
    const png = await page.evaluate(() => {
      const c = document.createElement('canvas');
      c.width = c.height = 56;
      const g = c.getContext('2d');
      g.fillStyle = '#000';
      g.fillRect(0, 0, 56, 56);
      g.fillStyle = '#fff';
      g.fillRect(24, 8, 8, 40);
      return c.toDataURL('image/png').split(',')[1];
    });
    await byTestId(page, 'upload-image').setInputFiles({ name: 'one.png', mimeType: 'image/png', buffer: Buffer.from(png, 'base64') });
    await page.waitForFunction(() => /one\.png/.test(document.querySelector('[data-testid="chosen-caption"]').textContent));

    // The plane through the attacked image.
    await byTestId(page, 'slice-redraw').scrollIntoViewIfNeeded();
    await page.waitForSelector('[data-testid="slice-redraw"]:not([disabled])', { timeout: 120_000 });
    await byTestId(page, 'slice-redraw').click();
    await page.waitForSelector('[data-testid="slice-status"][data-busy="false"]', { timeout: 180_000 });

    // A toy world.
    await byTestId(page, 'toy-epochs').fill('20');
    await byTestId(page, 'toy-train-start').click();
    await page.waitForSelector('[data-testid="toy-state"][data-state="finished"]', { timeout: 120_000 });

    // Saving the models in the browser, where the page has that panel.
    if ((await byTestId(page, 'model-save').count()) > 0) {
      await byTestId(page, 'model-save').click();
      await page.waitForFunction(() => Number(document.querySelector('[data-testid="model-saved"]')?.dataset.count) > 0, null, {
        timeout: 30_000,
      });
    }

    // Another dataset: its file comes from the same origin.
    await byTestId(page, 'dataset-select').selectOption('fashion');
    await page.waitForFunction(() => /Fashion/.test(document.querySelector('[data-testid="dataset-info"]').textContent), null, {
      timeout: 120_000,
    });
    await waitReady(page);

    report.cpu_session_requests = requests.length;
    report.cpu_session_paths = [...new Set(requests.map((u) => (/^(data|blob):/.test(u) ? u.split(':')[0] + ':' : new URL(u).pathname)))];
    assert.deepEqual(foreign(requests), [], 'requests outside the origin');
    assert.deepEqual(await violations(page), [], 'CSP violations');
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

test('WebGPU start-up and training stay on the origin and within the policy', { timeout: 600_000 }, async () => {
  const { context, requests } = await recordingBrowser({ webgpu: true });
  try {
    const page = await openPage(context, server.url + '?pretrained=0&backend=webgpu');
    await waitReady(page, 300_000);
    assert.match(await byTestId(page, 'backend').innerText(), /WebGPU/);
    await byTestId(page, 'epochs').fill('1');
    await byTestId(page, 'train-start').click();
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="train-step"]')?.dataset.done) >= 5, null, {
      timeout: 400_000,
    });
    await byTestId(page, 'train-cancel').click();
    await page.waitForSelector('[data-testid="train-state"][data-state="cancelled"]', { timeout: 60_000 });
    report.webgpu_session_requests = requests.length;
    assert.deepEqual(foreign(requests), [], 'requests outside the origin');
    assert.deepEqual(await violations(page), [], 'CSP violations');
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

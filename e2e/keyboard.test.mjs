// Keyboard-only end-to-end test (issue 6): Tab reaches every control of the page in one cycle
// with no trap, each focused control shows a visible focus ring and has an accessible name,
// and the main actions work from the keyboard alone: a preset, picking a digit, running the
// attack, exporting the four views, sharing. Any console error fails the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SHOTS, launch, openPage, byTestId, waitReady, servePage, attackRun, waitAttack } from './browser.mjs';

const server = servePage('keyboard-report.json', 'keyboard');
const report = server.report;

// Everything the keyboard should reach: enabled, rendered controls and focusable regions.
const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex="-1"])';

// Marks every focusable element with a number (data-kb) and returns how many are rendered.
const markFocusable = (page) =>
  page.evaluate((selector) => {
    let n = 0;
    for (const el of document.querySelectorAll(selector)) {
      const hidden = el.getClientRects().length === 0 || getComputedStyle(el).visibility === 'hidden';
      if (hidden || el.closest('details:not([open])') && el.tagName !== 'SUMMARY') continue;
      el.dataset.kb = String(n++);
    }
    return n;
  }, FOCUSABLE);

// What has the focus: its mark, testid, accessible name and whether its focus ring shows.
const focused = (page) =>
  page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const s = getComputedStyle(el);
    const ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) || s.boxShadow !== 'none';
    const labelled = el.getAttribute('aria-labelledby');
    const name = (
      el.getAttribute('aria-label') ||
      (labelled && labelled.split(/\s+/).map((id) => document.getElementById(id)?.textContent ?? '').join(' ')) ||
      (el.labels && el.labels.length ? el.labels[0].textContent : '') ||
      el.getAttribute('title') ||
      el.textContent ||
      ''
    ).trim();
    return {
      kb: el.dataset.kb ?? null,
      testid: el.dataset.testid ?? null,
      tag: el.tagName.toLowerCase(),
      name,
      ring,
      visible: el.matches(':focus-visible'),
    };
  });

// Presses Tab until `predicate(element)` holds for the focused element; at most `limit` presses.
async function tabTo(page, predicate, arg, limit = 400) {
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(([p, a]) => new Function('el', 'arg', p)(document.activeElement, a), [predicate, arg])) return i + 1;
  }
  throw new Error(`Tab never reached ${predicate} ${arg ?? ''}`);
}
const IS_TESTID = 'return el.dataset.testid === arg';

test('keyboard only: every control reachable with a visible focus ring and a name; main actions work', { timeout: 900_000 }, async () => {
  const context = await launch();
  try {
    const page = await openPage(context, server.url + '?backend=cpu');
    await waitReady(page);
    await page.waitForSelector('[data-testid="attack-results"]', { timeout: 120_000 });
    await page.waitForSelector('[data-testid="slice-plot"]', { timeout: 120_000 });
    await page.waitForSelector('[data-testid="attack-status"][data-busy="false"]');

    // One Tab cycle from the top of the page.
    const total = await markFocusable(page);
    await page.evaluate(() => document.activeElement?.blur());
    const seen = new Map();
    const problems = [];
    let presses = 0;
    for (; presses < 3 * total + 20; presses++) {
      await page.keyboard.press('Tab');
      const f = await focused(page);
      if (!f) continue;
      if (f.kb !== null && seen.has(f.kb)) break;
      seen.set(f.kb ?? `unmarked ${f.tag} ${f.testid}`, f);
      if (!f.ring || !f.visible) problems.push(`no visible focus ring on ${f.tag} ${f.testid ?? f.name}`);
      if (!f.name) problems.push(`no accessible name on ${f.tag} ${f.testid}`);
    }
    const missed = await page.evaluate(
      (seen) =>
        [...document.querySelectorAll('[data-kb]')]
          .filter((el) => !seen.includes(el.dataset.kb))
          .map((el) => `${el.tagName.toLowerCase()} ${el.dataset.testid ?? el.getAttribute('aria-label') ?? el.textContent.trim().slice(0, 40)}`),
      [...seen.keys()],
    );
    report.focusable = total;
    report.reached = seen.size;
    report.tab_presses_for_a_cycle = presses;
    assert.deepEqual(missed, [], 'every control is reached by Tab');
    assert.ok(presses < 3 * total + 20, 'the Tab cycle comes back round: no keyboard trap');
    assert.deepEqual(problems, []);
    for (const id of ['share', 'preset-on-off', 'train-start', 'attack-run', 'export-png-strip', 'export-csv', 'model-save', 'toy-train-start', 'slice-redraw']) {
      assert.ok([...seen.values()].some((f) => f.testid === id), `${id} is reached`);
    }

    // A preset from the keyboard: Enter opens its note.
    await page.evaluate(() => document.activeElement?.blur());
    await tabTo(page, IS_TESTID, 'preset-on-off');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid="preset-note"][data-preset="on-off"]', { timeout: 30_000 });
    await page.waitForSelector('[data-testid="attack-status"][data-busy="false"]', { timeout: 120_000 });

    // The gallery's thirty digits can be skipped: Enter on the skip button puts the focus on
    // the attack's first control.
    await page.evaluate(() => document.activeElement?.blur());
    await tabTo(page, IS_TESTID, 'gallery-skip');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.activeElement?.dataset.testid === 'random-digit');

    // Pick test digit #5 in the gallery with Space: it is attacked at once; then the attack
    // runs again on it with Enter.
    await page.evaluate(() => document.activeElement?.blur());
    await tabTo(page, 'return el === document.querySelectorAll(\'[data-testid="gallery-pick"]\')[arg]', 5);
    const shown = await attackRun(page);
    await page.keyboard.press('Space');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="gallery-pick"]')[5].getAttribute('aria-pressed') === 'true');
    assert.match(await byTestId(page, 'chosen-caption').innerText(), /#5/);
    const before = await waitAttack(page, shown);
    assert.equal(await byTestId(page, 'attack-results').getAttribute('data-source'), 'test digit #5, a 1');
    await tabTo(page, IS_TESTID, 'attack-run');
    await page.keyboard.press('Enter');
    await waitAttack(page, before);

    // Export the four views of digit #5 from the keyboard.
    await tabTo(page, IS_TESTID, 'export-png-strip');
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.keyboard.press('Enter')]);
    assert.equal(download.suggestedFilename(), 'dimple-four-views-test5.png');

    // Share: Enter shows the link, focusable and labelled.
    await page.evaluate(() => document.activeElement?.blur());
    await tabTo(page, IS_TESTID, 'share');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid="share-link"]');
    assert.match(await byTestId(page, 'share-link').inputValue(), /digit=5/);
    await page.keyboard.press('Tab');
    assert.equal((await focused(page)).testid, 'share-link');

    await page.screenshot({ path: join(SHOTS, 'keyboard-share.png') });
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

// Launching Debian's Chromium headless with Playwright, and helpers the tests share.
import { chromium } from 'playwright-core';
import { mkdtemp, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SHOTS = join(process.cwd(), 'target', 'e2e');

const FLAGS = [
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// Opens a fresh browser profile; `webgpu` adds the flag that exposes SwiftShader's adapter.
export async function launch({ webgpu = false, viewport = { width: 1280, height: 900 } } = {}) {
  await mkdir(SHOTS, { recursive: true });
  const profile = await mkdtemp(join(tmpdir(), 'dimple-e2e-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: webgpu ? [...FLAGS, '--enable-unsafe-webgpu'] : FLAGS,
    viewport,
    deviceScaleFactor: 2,
  });
  // Record every main-thread task over 50 ms, from the first script on.
  await context.addInitScript(() => {
    window.__longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__longTasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  });
  return context;
}

// A page whose console errors and uncaught exceptions are collected in `page.errors`.
export async function openPage(context, url) {
  const page = context.pages()[0] ?? (await context.newPage());
  page.errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') page.errors.push(m.text());
  });
  page.on('pageerror', (e) => page.errors.push(String(e)));
  await page.goto(url);
  return page;
}

export const byTestId = (page, id) => page.locator(`[data-testid="${id}"]`);

// Waits until the Train button is enabled (backend chosen, data loaded).
export async function waitReady(page, timeout = 120_000) {
  await page.waitForSelector('[data-testid="train-start"]:not([disabled])', { timeout });
}

export async function longTasksSince(page, since) {
  return page.evaluate((t) => window.__longTasks.filter((e) => e.start >= t), since);
}

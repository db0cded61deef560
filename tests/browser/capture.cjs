// Drive a running Dagster UI in headless Chromium: the browser test and the docs screenshots.
//
//   node tests/browser/capture.cjs --base-url http://127.0.0.1:3000 --partition product-shots \
//       [--out DIR] [--chromium /usr/bin/chromium]
//
// Opens the asset graph, then the latest materialization of `generation/requests`, `media/files`
// and `media/archive` for one partition (asset page, Events tab, its metadata, the `preview` markdown),
// saves PNGs into --out (or $CAPTURE_OUT_DIR; none if neither is given): <page>.png, and
// <page>-preview.png where the preview opens in a dialog. Prints one JSON document on stdout: per page its URL, window size, console errors and every preview
// <img> with its natural and rendered size. tests/test_ui_browser.py asserts on that report;
// scripts/screenshots.py points --out at docs/.
//
// Playwright's driver `playwright-core` (pinned in package-lock.json, installed by `make browser`)
// drives Debian's chromium: no browser is downloaded. Each run uses a fresh profile directory.

'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { chromium } = require('playwright-core');

const WINDOW = { width: 1600, height: 1000 };
const TIMEOUT_MS = 60000;
// Without the background-networking flags Chromium calls Google hosts (component updates,
// variations, sync), which fail noisily offline; nothing here needs them.
const CHROMIUM_FLAGS = [
  '--no-sandbox', // CI runs as root in a container
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function pages(partition) {
  const events = (asset) =>
    `/assets/${asset}?view=events&partition=${encodeURIComponent(partition)}`;
  return [
    {
      // The lineage tab of the last asset, upstream: the whole pipeline with each asset's
      // status, checks, partitions and kinds (the global /asset-groups page collapses groups).
      name: 'asset-graph',
      url: '/assets/reports/endpoint_stats?view=lineage&lineageScope=upstream&lineageDepth=10',
      waitForText: ['requests', 'files', 'timings', 'models', 'pricing'],
      settleMs: 2500, // the graph animates its zoom-to-fit
    },
    {
      name: 'requests-materialization',
      url: events('generation/requests'),
      waitForText: ['dagster/table_name', 'latency_p95_seconds', 'preview'],
      preview: true,
    },
    {
      name: 'media-materialization',
      url: events('media/files'),
      waitForText: ['dagster/table_name', 'media_by_kind', 'preview'],
      preview: true,
    },
    {
      // Thumbnails made from the platform's own copies: the test stops the emulator first.
      name: 'archive-materialization',
      url: events('media/archive'),
      waitForText: ['dagster/table_name', 'archived_bytes', 'preview'],
      preview: true,
    },
  ];
}

function options() {
  const { values } = parseArgs({
    options: {
      'base-url': { type: 'string' },
      partition: { type: 'string' },
      out: { type: 'string', default: process.env.CAPTURE_OUT_DIR || '' },
      chromium: { type: 'string', default: '/usr/bin/chromium' },
    },
  });
  if (!values['base-url'] || !values.partition) {
    throw new Error('usage: capture.cjs --base-url URL --partition KEY [--out DIR] [--chromium PATH]');
  }
  return values;
}

// Every <img> under `scope` once it has loaded or failed (a broken image has naturalWidth 0).
async function measureImages(scope) {
  return scope.locator('img').evaluateAll(async (images) => {
    const settled = (img) =>
      new Promise((done) => {
        img.addEventListener('load', done, { once: true });
        img.addEventListener('error', done, { once: true });
      });
    await Promise.all(images.filter((img) => !img.complete).map(settled));
    return images.map((img) => {
      const box = img.getBoundingClientRect();
      return {
        src: img.currentSrc || img.src,
        alt: img.alt,
        naturalWidth: img.naturalWidth,
        naturalHeight: img.naturalHeight,
        width: box.width,
        height: box.height,
        left: box.left,
        right: box.right,
      };
    });
  });
}

// The `preview` metadata row is markdown: the UI renders a short one in the row and puts a long
// one (a table) behind "[Show Markdown]", in a dialog. The page is photographed first, then the
// dialog (`<name>-preview.png`), and the images are measured where they are shown.
async function previewImages(page, shoot, report) {
  const row = page
    .locator('tr')
    .filter({ has: page.getByText('preview', { exact: true }) })
    .first();
  const more = row.getByText('[Show Markdown]', { exact: true });
  report.previewInDialog = (await more.count()) > 0;
  if (!report.previewInDialog) {
    report.images = await measureImages(row);
    await shoot(`${report.name}.png`);
    return;
  }
  await shoot(`${report.name}.png`);
  await more.click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  // The dialog fades and scales in: measure and photograph it once its transitions are over,
  // not a half-transparent, half-size frame of the animation.
  await page.evaluate(() => Promise.all(document.getAnimations().map((a) => a.finished)));
  report.images = await measureImages(dialog);
  await shoot(`${report.name}-preview.png`);
}

async function visit(context, baseUrl, spec, outDir) {
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push({ text: msg.text(), url: msg.location().url });
  });
  page.on('pageerror', (error) => consoleErrors.push({ text: String(error), url: page.url() }));
  const report = { name: spec.name, url: baseUrl + spec.url, consoleErrors, images: [] };
  report.screenshots = [];
  const shoot = async (file) => {
    if (!outDir) return;
    report.screenshots.push(path.join(outDir, file));
    await page.screenshot({ path: path.join(outDir, file) });
  };
  try {
    await page.goto(report.url, { waitUntil: 'networkidle' });
    for (const text of spec.waitForText) {
      await page.getByText(text, { exact: true }).filter({ visible: true }).first().waitFor();
    }
    // Cards and tables fill in after the first paint ("Loading..."); photograph the result.
    await page.waitForFunction(() => !/\bLoading\b/.test(document.body.innerText));
    await page.waitForLoadState('networkidle');
    await page.waitForTimeout(spec.settleMs || 300);
    report.window = await page.evaluate(() => ({
      width: window.innerWidth,
      height: window.innerHeight,
    }));
    if (spec.preview) await previewImages(page, shoot, report);
    else await shoot(`${spec.name}.png`);
  } catch (error) {
    report.failure = `${spec.url}: ${error.message.split('\n')[0]}`;
    await shoot(`${spec.name}.failed.png`).catch(() => {});
  } finally {
    await page.close();
  }
  return report;
}

async function main() {
  const args = options();
  if (args.out) fs.mkdirSync(args.out, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'fal-platform-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: args.chromium,
    headless: true, // Playwright adds --headless
    args: CHROMIUM_FLAGS,
    viewport: WINDOW,
    deviceScaleFactor: 1,
  });
  context.setDefaultTimeout(TIMEOUT_MS);
  const reports = [];
  try {
    for (const spec of pages(args.partition)) {
      const report = await visit(context, args['base-url'], spec, args.out);
      console.error(`[capture] ${spec.name}: ${report.failure || 'ok'}`);
      reports.push(report);
    }
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify({ window: WINDOW, pages: reports }, null, 2) + '\n');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

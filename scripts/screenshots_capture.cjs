// Headless Chromium screenshots of a running Dagster UI, for scripts/screenshots.py.
//
// Usage: node screenshots_capture.cjs '<json spec>'
//   spec = {playwrightCore, chromium, baseUrl, shots: [{url, path, width, height, waitForText}]}
// Uses Playwright's `playwright-core` (no bundled browser) with Debian's chromium. Each shot waits
// until every `waitForText` string is on the page, the network is idle, and the graph has had a
// moment to zoom to fit, so the picture is the page, not a loading spinner.

const spec = JSON.parse(process.argv[2]);
const { chromium } = require(spec.playwrightCore);

const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

async function shoot(browser, shot) {
  const page = await browser.newPage({
    viewport: { width: shot.width, height: shot.height },
    deviceScaleFactor: 1,
  });
  try {
    await page.goto(spec.baseUrl + shot.url, { waitUntil: 'networkidle', timeout: 60000 });
    for (const text of shot.waitForText) {
      const visible = page.getByText(text, { exact: true }).filter({ visible: true });
      await visible.first().waitFor({ timeout: 60000 });
    }
    await page.waitForLoadState('networkidle');
    await page.waitForTimeout(2500); // the lineage graph animates its zoom-to-fit
    await page.screenshot({ path: shot.path });
    console.log(`saved ${shot.path}`);
  } catch (error) {
    const failed = shot.path.replace(/\.png$/, '.failed.png');
    await page.screenshot({ path: failed }).catch(() => {});
    throw new Error(`${shot.url}: ${error.message} (page as it was: ${failed})`);
  } finally {
    await page.close();
  }
}

(async () => {
  const browser = await chromium.launch({
    executablePath: spec.chromium,
    headless: true, // Playwright adds --headless
    args: CHROMIUM_FLAGS,
  });
  try {
    for (const shot of spec.shots) {
      await shoot(browser, shot);
    }
  } finally {
    await browser.close();
  }
})().catch((error) => {
  console.error(error);
  process.exit(1);
});

'use strict';
// Headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core,
// for tests/test_demo.py:
//
//   node browser_page.js <url> <chromium-path>
//
// Loads the demo page, waits (bounded) until it shows at least three round
// trips over the WebSocket transport and the server's kernels, and prints
// one JSON line with what the page shows.  Errors print {"error": ...} and
// exit 1; a watchdog bounds the whole run.

const { chromium } = require('playwright-core');

const [url, executablePath] = process.argv.slice(2);
const watchdog = setTimeout(() => {
  process.stdout.write(JSON.stringify({ error: 'timed out' }) + '\n');
  process.exit(1);
}, 30000);

(async () => {
  // The flags keep Chromium off the (closed) network: no background
  // services, no component updates, no QUIC.
  const browser = await chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic',
      '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage();
    const consoleErrors = [];
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    await page.goto(url, { timeout: 15000 });
    await page.waitForFunction(() => {
      const trips = Number(document.body.dataset.roundTrips || 0);
      return trips >= 3
        && document.getElementById('transport').textContent === 'websocket'
        && document.getElementById('implementation').textContent !== '–';
    }, null, { timeout: 15000 });
    const shown = await page.evaluate(() => {
      const text = (id) => document.getElementById(id).textContent;
      return {
        status: text('status'), transport: text('transport'), rtt: text('rtt'),
        roundTrips: Number(document.body.dataset.roundTrips),
        implementation: text('implementation'), server: text('server'),
      };
    });
    shown.consoleErrors = consoleErrors;
    process.stdout.write(JSON.stringify(shown) + '\n');
  } finally {
    await browser.close();
    clearTimeout(watchdog);
  }
})().catch((error) => {
  process.stdout.write(JSON.stringify({ error: String(error) }) + '\n');
  process.exit(1);
});

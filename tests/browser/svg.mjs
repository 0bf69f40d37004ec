// Opens a stored SVG directly in Debian's headless Chromium, logged in, the
// way a teacher would open a student's costume from a link. The SVG holds a
// script that would create a project with the visitor's session; cubby's
// sandbox CSP must keep it from running (S1).
//
//   node svg.mjs <base-url> <session-token> <svg-path>
//
// Prints `REQUESTS=<n>` (requests the page made besides the SVG itself),
// `SCRIPT_RAN=<true|false>` and `OK`.
import { chromium } from 'playwright-core';

const [base, token, svgPath] = process.argv.slice(2);
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-quic'],
});
const context = await browser.newContext();
await context.addCookies([{ name: 'cubby_session', value: token, url: base }]);
const page = await context.newPage();
const requests = [];
page.on('request', (r) => { if (r.url() !== base + svgPath) requests.push(r.method() + ' ' + r.url()); });
const response = await page.goto(base + svgPath, { waitUntil: 'load', timeout: 60000 });
if (!response || response.status() !== 200) {
  console.error('FAIL: the SVG did not load: ' + (response && response.status()));
  process.exit(1);
}
// Give a script that did run the time to send its request.
await page.waitForTimeout(1500);
let ran = false;
try {
  ran = await page.evaluate(() => document.documentElement.getAttribute('data-ran') === 'yes');
} catch (e) {
  // A sandboxed document may refuse evaluation: then nothing of ours ran either.
  ran = false;
}
console.log('REQUESTS=' + requests.length);
for (const r of requests) console.log('REQUEST ' + r);
console.log('SCRIPT_RAN=' + ran);
console.log('OK');
await browser.close();

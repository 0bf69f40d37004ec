// Drives the stock Scratch editor, as served by cubby, in Debian's headless
// Chromium: the editor creates its project, we rename the sprite, save,
// reload and see the new name; then we put the costume in the backpack,
// reload, and see it listed. Every request must stay on cubby's origin.
//
//   node editor.mjs <base-url> <session-token> <screenshot.png>
//
// Exit code 0 on success; prints `EDITOR_PROJECT_ID=<id>` for the caller.
import { chromium } from 'playwright-core';

const [base, token, screenshot] = process.argv.slice(2);
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const NEW_NAME = 'Rocket';

function fail(msg) {
  console.error('FAIL: ' + msg);
  process.exit(1);
}

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-quic',
    // WebGL through SwiftShader: without it the GUI refuses drag and drop.
    '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
await context.addCookies([{ name: 'cubby_session', value: token, url: base }]);
const page = await context.newPage();
const foreign = [];
page.on('request', (r) => {
  const u = r.url();
  if (!u.startsWith(base) && !u.startsWith('data:') && !u.startsWith('blob:')) foreign.push(u);
});

const spriteInput = page.locator('input[class*="sprite-info_sprite-input"]');

async function openEditor(url) {
  await page.goto(url, { waitUntil: 'load', timeout: 120000 });
  await spriteInput.waitFor({ state: 'visible', timeout: 120000 });
}

try {
  // 1. The editor creates its project (POST /projects/ → exactly 200).
  const created = page.waitForResponse(
    (r) => r.url() === base + '/projects/' && r.request().method() === 'POST', { timeout: 120000 });
  await openEditor(base + '/editor');
  const createResp = await created;
  if (createResp.status() !== 200) fail('project create answered ' + createResp.status());
  const id = (await createResp.json())['content-name'];
  console.log('EDITOR_PROJECT_ID=' + id);
  await page.waitForURL('**/editor?project=' + id, { timeout: 30000 });

  // 2. Rename the sprite (lands in project.json) and save with File > Save now.
  await spriteInput.fill(NEW_NAME);
  await spriteInput.press('Enter');
  await page.locator('[class*="menu-bar_menu-bar-item"]', { hasText: 'File' }).first().click();
  const saved = page.waitForResponse(
    (r) => r.url().startsWith(base + '/projects/' + id) && r.request().method() === 'PUT', { timeout: 60000 });
  await page.getByText('Save now', { exact: true }).click();
  const saveResp = await saved;
  if (saveResp.status() !== 200) fail('save answered ' + saveResp.status());

  // 3. Reload: the editor loads the saved project from cubby.
  await openEditor(base + '/editor?project=' + id);
  await page.waitForFunction(
    (name) => document.querySelector('input[class*="sprite-info_sprite-input"]')?.value === name,
    NEW_NAME, { timeout: 60000 }).catch(() => fail('sprite name after reload is not ' + NEW_NAME));
  await page.screenshot({ path: screenshot });

  // 4. Backpack: open it, drag the costume from the Costumes tab into it.
  const listed = page.waitForResponse((r) => r.url().includes('/backpack/') && r.request().method() === 'GET'
    && r.url().includes('limit='), { timeout: 60000 });
  await page.getByText('Backpack', { exact: true }).click();
  const listResp = await listed;
  if (listResp.status() !== 200) fail('backpack list answered ' + listResp.status());
  await page.getByText('Costumes', { exact: true }).click();
  const costume = page.locator('[class*="sprite-selector-item_sprite-selector-item"]').first();
  await costume.waitFor({ state: 'visible', timeout: 30000 });
  const backpack = page.locator('[class*="backpack_backpack-container"]').first();
  const from = await costume.boundingBox();
  const to = await backpack.boundingBox();
  if (!from || !to) fail('costume or backpack not on screen');
  const posted = page.waitForResponse((r) => r.url().includes('/backpack/') && r.request().method() === 'POST',
    { timeout: 60000 });
  await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await page.mouse.down();
  for (let i = 1; i <= 20; i++) {
    await page.mouse.move(from.x + (to.x + to.width / 2 - from.x) * i / 20,
      from.y + (to.y + to.height / 2 - from.y) * i / 20);
    await page.waitForTimeout(30);
  }
  await page.mouse.up();
  const postResp = await posted;
  if (postResp.status() !== 200) fail('backpack add answered ' + postResp.status());

  // 5. Reload and see the item in the backpack.
  await openEditor(base + '/editor?project=' + id);
  const relisted = page.waitForResponse((r) => r.url().includes('/backpack/') && r.request().method() === 'GET'
    && r.url().includes('limit='), { timeout: 60000 });
  await page.getByText('Backpack', { exact: true }).click();
  const items = await (await relisted).json();
  if (!Array.isArray(items) || items.length !== 1) fail('backpack after reload: ' + JSON.stringify(items));
  await page.locator('[class*="backpack_backpack-item"]').first().waitFor({ state: 'visible', timeout: 30000 })
    .catch(() => fail('the backpack item is not shown after reload'));
  console.log('BACKPACK_ITEM=' + JSON.stringify(items[0]));

  if (foreign.length) fail('requests left cubby\'s origin: ' + foreign.slice(0, 5).join(', '));
  console.log('OK');
} catch (err) {
  await page.screenshot({ path: screenshot.replace(/\.png$/, '-failure.png') }).catch(() => {});
  fail(err && err.stack ? err.stack : String(err));
} finally {
  await browser.close();
}

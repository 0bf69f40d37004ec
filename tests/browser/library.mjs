// The editor page's library, title, autosave and remix, in Debian's headless
// Chromium with the stock Scratch editor served by cubby. One scenario per run:
//
//   node library.mjs <base-url> <session-token> <artifacts-dir> banner <project id>
//     The library is not installed: the page shows the banner (printed as
//     BANNER=) and tells the script so (window.CUBBY.libraryInstalled).
//   node library.mjs … pick <project id> <sprite> <tiles> <costume,costume> <screenshot.png>
//     The library is installed: no banner; "Choose a Sprite" shows <tiles>
//     tiles, every picture loaded (naturalWidth > 0); screenshot; pick
//     <sprite>; the tab is hidden: saved at once; reload: the sprite is
//     there with those costumes.
//   node library.mjs … own <project id> <title> <new title> <new sprite name> <autosave ms>
//     The owner's page: the title field shows <title>, no Remix, a link
//     home, "Saved". Renaming the project saves it (PUT with ?title=) with
//     no click; renaming the sprite is saved by itself too: the first
//     attempt is made to fail (503), the page says "Not saved — retrying",
//     retries after its pause, and says "Saved"; leaving with a change
//     unsaved asks first and saves at once. Then a burst of
//     changes: saved at most every <autosave ms>, the last one included
//     (BURST_SAVES=).
//   node library.mjs … remix <project id>
//     Someone else's project: Remix shown, the title is not editable; Remix
//     makes a copy (POST ?is_remix=1), the page moves to it (REMIX_ID=) and
//     the copy is the viewer's own: no Remix, "Saved".
//
// Every request must stay on cubby's origin. Exit code 0 and `OK` on success.
import path from 'node:path';
import { chromium } from 'playwright-core';

const [base, token, artifacts, scenario, ...rest] = process.argv.slice(2);
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const LONG = 120000;

function fail(msg) {
  throw new Error(msg);
}

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-quic',
    '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
await context.addCookies([{ name: 'cubby_session', value: token, url: base }]);
const foreign = [];
const page = await context.newPage();
page.on('request', (r) => {
  const u = r.url();
  if (!u.startsWith(base) && !u.startsWith('data:') && !u.startsWith('blob:')) foreign.push(u);
});
page.on('dialog', (d) => d.accept());
page.on('console', (m) => { if (m.text().startsWith('cubby')) console.log(`[page] ${m.text()}`); });
page.on('pageerror', (e) => console.log(`[page error] ${e}`));

const spriteInput = page.locator('input[class*="sprite-info_sprite-input"]');
const titleInput = page.locator('input[class*="project-title-input_title-field"]');
const remixButton = page.locator('[class*="menu-bar_remix-button_"]');
const status = page.locator('#cubby-save-status');

async function openEditor(url) {
  await page.goto(url, { waitUntil: 'load', timeout: LONG });
  await spriteInput.waitFor({ state: 'visible', timeout: LONG });
}

async function statusIs(text, timeout = 30000) {
  await page.waitForFunction((t) => document.getElementById('cubby-save-status')?.textContent === t,
    text, { timeout }).catch(async () => fail(`the status is "${await status.textContent()}", not "${text}"`));
}

// Whether leaving now would ask first: a cancelable beforeunload, as the
// browser sends it, is cancelled by the page's guard.
async function leavingAsks() {
  return page.evaluate(() => {
    const e = new Event('beforeunload', { cancelable: true });
    window.dispatchEvent(e);
    return e.defaultPrevented;
  });
}

const isSave = (id) => (r) => new URL(r.url()).pathname === '/projects/' + id && r.request().method() === 'PUT';

async function banner() {
  const [id] = rest;
  await openEditor(base + '/editor?project=' + id);
  const box = page.locator('#cubby-library-banner[role="status"]');
  await box.waitFor({ state: 'visible', timeout: 10000 }).catch(() => fail('no library banner'));
  console.log('BANNER=' + JSON.stringify(await box.innerText()));
  if (await page.evaluate(() => window.CUBBY.libraryInstalled) !== false) fail('libraryInstalled is not false');
}

// Waits until every tile's picture has loaded or failed; returns
// [tiles, pictures that loaded].
async function libraryTiles() {
  const tiles = page.locator('[class*="library-item_library-item_"]');
  await tiles.first().waitFor({ state: 'visible', timeout: 30000 }).catch(() => fail('no library tiles'));
  await page.waitForFunction(() => [...document.querySelectorAll('img[class*="library-item_library-item-image"]')]
    .every((img) => img.complete), null, { timeout: 30000 }).catch(() => fail('library pictures never finished'));
  return page.evaluate(() => {
    const imgs = [...document.querySelectorAll('img[class*="library-item_library-item-image"]')];
    return [document.querySelectorAll('[class*="library-item_library-item_"]').length,
      imgs.filter((img) => img.naturalWidth > 0).length, imgs.length];
  });
}

async function costumeNames() {
  await page.getByText('Costumes', { exact: true }).click();
  const names = page.locator('[class*="selector_list-area"] [class*="sprite-selector-item_sprite-name"]');
  await names.first().waitFor({ state: 'visible', timeout: 30000 });
  const got = await names.allInnerTexts();
  await page.getByText('Code', { exact: true }).click();
  return got;
}

async function pick() {
  const [id, spriteName, tiles, costumes, screenshot] = rest;
  await openEditor(base + '/editor?project=' + id);
  if (await page.locator('#cubby-library-banner').count()) fail('the banner shows with the library installed');
  if (await page.evaluate(() => window.CUBBY.libraryInstalled) !== true) fail('libraryInstalled is not true');

  // "Choose a Sprite": the tiles and their pictures, all from cubby.
  const pictures = [];
  page.on('response', (r) => { if (r.url().includes('/assets/internalapi/asset/')) pictures.push(r.status()); });
  await page.locator('button[aria-label="Choose a Sprite"][class*="action-menu_main-button"]').click();
  const [count, loaded, imgs] = await libraryTiles();
  console.log(`TILES=${count} IMAGES=${imgs}`);
  console.log('TILES_LOADED=' + loaded);
  if (count !== Number(tiles) || imgs !== count || loaded !== count) {
    fail(`${count} tiles, ${imgs} pictures, ${loaded} loaded; want ${tiles} of each`);
  }
  if (pictures.some((s) => s !== 200 && s !== 304)) fail('a library picture answered ' + pictures.join(','));
  await page.screenshot({ path: screenshot });

  // Pick the sprite: it joins the project with the library's costumes.
  await page.locator('[class*="library-item_library-item_"]', { hasText: spriteName }).click();
  await page.locator('[class*="sprite-selector-item_sprite-name"]', { hasText: spriteName })
    .waitFor({ state: 'visible', timeout: 30000 }).catch(() => fail('the picked sprite is not in the project'));
  // The tab goes to the background (as when the student switches tabs or
  // closes the laptop): the page saves at once, though its autosave
  // interval here is an hour.
  const saved = page.waitForResponse(isSave(id), { timeout: 30000 })
    .catch(() => fail('no save when the tab was hidden'));
  await page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  if ((await saved).status() !== 200) fail('save answered ' + (await saved).status());
  await statusIs('Saved');

  // Reload: the sprite and its costumes came back from cubby.
  await openEditor(base + '/editor?project=' + id);
  const item = page.locator('[class*="sprite-selector_sprite-selector"] [class*="sprite-selector-item_sprite-name"]',
    { hasText: spriteName });
  await item.waitFor({ state: 'visible', timeout: 30000 }).catch(() => fail('no ' + spriteName + ' after reload'));
  await item.click();
  const names = await costumeNames();
  console.log('COSTUMES=' + names.join(','));
  if (names.join(',') !== costumes) fail(`costumes after reload: ${names}, want ${costumes}`);
}

async function own() {
  const [id, title, newTitle, newSprite, every] = rest;
  // When each save of this project left the page (to check the interval).
  const starts = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/projects/' + id && r.method() === 'PUT') starts.push(Date.now());
  });
  await openEditor(base + '/editor?project=' + id);
  await page.waitForFunction((t) =>
    document.querySelector('input[class*="project-title-input_title-field"]')?.value === t, title, { timeout: 30000 })
    .catch(async () => fail(`the title field shows "${await titleInput.inputValue()}", not "${title}"`));
  if (await remixButton.count()) fail('Remix is offered on the student\'s own project');
  const home = page.locator('#cubby-strip a#cubby-home');
  if (await home.getAttribute('href') !== '/' || !(await home.isVisible())) fail('no visible link home');
  if (await page.locator('#cubby-save-status[role="status"][aria-live="polite"]').count() !== 1) {
    fail('no polite status element');
  }
  await statusIs('Saved');
  if (await leavingAsks()) fail('the page asks before leaving with nothing to save');

  // A rename in the title field is saved with no click, with the title.
  const renamed = page.waitForResponse(isSave(id), { timeout: 30000 });
  await titleInput.fill(newTitle);
  await titleInput.press('Enter');
  const r1 = await renamed;
  const q = new URL(r1.url()).searchParams;
  console.log('RENAME_SAVE=' + r1.url());
  if (r1.status() !== 200 || q.get('title') !== newTitle || q.get('version') !== '1') {
    fail(`rename save: ${r1.status()} ${r1.url()}`);
  }
  await statusIs('Saved');

  // The next save fails once (as if the network dropped); the page says so,
  // guards the page, and tries again by itself.
  let failedOnce = false;
  await page.route((u) => u.pathname === '/projects/' + id, (route) => {
    if (route.request().method() === 'PUT' && !failedOnce) {
      failedOnce = true;
      return route.fulfill({ status: 503, contentType: 'application/json', body: '{"code":"busy"}' });
    }
    return route.continue();
  });
  const puts = [];
  page.on('response', (r) => { if (isSave(id)(r)) puts.push([Date.now(), r.status(), r.url()]); });
  // Every status the page shows from now on, in order.
  await page.evaluate(() => {
    window.cubbyStatuses = [];
    const el = document.getElementById('cubby-save-status');
    new MutationObserver(() => window.cubbyStatuses.push(el.textContent))
      .observe(el, { childList: true, characterData: true, subtree: true });
  });
  const gap = (a, b) => starts[b] - starts[a];
  // (Timers fire at or after their time; the margin is for reading clocks.)
  const atLeast = (ms, what) => { if (ms < Number(every) - 150) fail(`${what}: ${ms} ms, under ${every} ms`); };
  const changedAt = Date.now();
  await spriteInput.fill(newSprite + ' (draft)');
  await spriteInput.press('Enter');
  await statusIs('Not saved — retrying', 30000).catch(async (e) => {
    console.log('STATUSES=' + JSON.stringify(await page.evaluate(() => window.cubbyStatuses)));
    console.log('PUTS=' + JSON.stringify(puts));
    throw e;
  });
  await statusIs('Saved', 30000);
  console.log('STATUSES=' + JSON.stringify(await page.evaluate(() => window.cubbyStatuses)));
  for (const [at, s, u] of puts) console.log(`AUTOSAVE +${at - changedAt} ms ${s} ${u}`);
  if (puts.length !== 2 || puts[0][1] !== 503 || puts[1][1] !== 200) fail('saves: ' + JSON.stringify(puts));
  if (!puts[1][2].endsWith('?version=2')) fail('the retry did not send version 2: ' + puts[1][2]);
  if (starts.length !== 3) fail(`${starts.length} saves so far, want 3`);
  atLeast(gap(0, 1), 'from the rename\'s save to the autosave');
  atLeast(gap(1, 2), 'from the failed save to its retry');

  // Leaving with a change not yet saved: the page asks first, and saves
  // at once; once saved it lets the student go.
  await spriteInput.fill(newSprite + ' (leaving)');
  await spriteInput.press('Enter');
  const leaving = page.waitForResponse(isSave(id), { timeout: 1500 })
    .catch(() => fail('no save at once when the page is being left'));
  if (!(await leavingAsks())) fail('no warning before leaving with unsaved changes');
  if ((await leaving).status() !== 200) fail('the save on leaving failed');
  await statusIs('Saved', 30000);
  if (await leavingAsks()) fail('the page still asks before leaving after the save');

  // A burst of changes (one every 400 ms): saved while it goes on, but
  // never two saves closer than the interval; the last change is saved.
  const before = starts.length;
  for (const n of [1, 2, 3, 4, 5]) {
    await spriteInput.fill(n < 5 ? `${newSprite} ${n}` : newSprite);
    await spriteInput.press('Enter');
    await page.waitForTimeout(400);
  }
  await statusIs('Saved', 30000);
  await page.waitForTimeout(Number(every) + 500); // nothing more comes
  const burst = starts.length - before;
  console.log('BURST_SAVES=' + burst);
  console.log('SAVE_GAPS_MS=' + starts.slice(1).map((t, k) => t - starts[k]).join(','));
  for (let k = before - 1; k + 1 < starts.length; k++) atLeast(gap(k, k + 1), 'between saves of a burst');
  if (burst < 1 || burst > 2) fail(`${burst} saves for a 2 s burst of changes`);
  await statusIs('Saved');
  await page.screenshot({ path: path.join(artifacts, 'editor-autosaved.png') });
}

async function remix() {
  const [id] = rest;
  await openEditor(base + '/editor?project=' + id);
  await remixButton.waitFor({ state: 'visible', timeout: 30000 }).catch(() => fail('no Remix on someone else\'s project'));
  if (await titleInput.count()) fail('someone else\'s title is editable');
  if (!(await page.locator('#cubby-owner').isVisible())) fail('the page does not say whose project this is');
  if (await status.textContent() !== '') fail('a save status on a project the viewer cannot save');
  const made = page.waitForResponse((r) => r.url().startsWith(base + '/projects/?') && r.request().method() === 'POST',
    { timeout: 60000 });
  await remixButton.click();
  const resp = await made;
  const q = new URL(resp.url()).searchParams;
  if (resp.status() !== 200 || q.get('is_remix') !== '1' || q.get('original_id') !== String(id)) {
    fail(`remix: ${resp.status()} ${resp.url()}`);
  }
  const copy = (await resp.json())['content-name'];
  console.log('REMIX_ID=' + copy);
  await page.waitForURL('**/editor?project=' + copy, { timeout: 30000 });
  await remixButton.waitFor({ state: 'detached', timeout: 30000 }).catch(() => fail('Remix still offered on the remix'));
  await titleInput.waitFor({ state: 'visible', timeout: 30000 }).catch(() => fail('the remix\'s title is not editable'));
  if (await page.locator('#cubby-owner').count()) fail('the remix still says it is someone else\'s');
  await statusIs('Saved');
}

const scenarios = { banner, pick, own, remix };
let failed = false;
try {
  if (!scenarios[scenario]) fail('unknown scenario ' + scenario);
  await scenarios[scenario]();
  if (foreign.length) fail('requests left cubby\'s origin: ' + foreign.slice(0, 5).join(', '));
  console.log('OK');
} catch (err) {
  failed = true;
  console.error('FAIL: ' + (err && err.stack ? err.stack : String(err)));
  await page.screenshot({ path: path.join(artifacts, `library-${scenario}-failure.png`) }).catch(() => {});
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);

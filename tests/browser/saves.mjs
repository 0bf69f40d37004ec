// The editor page's own save behaviour, in Debian's headless Chromium with
// the stock Scratch editor served by cubby. One scenario per run:
//
//   node saves.mjs <base-url> <session-token> <artifacts-dir> conflict <project id>
//     Two tabs of one student open the project (version 1); both rename the sprite; tab A
//     saves (200), tab B's save is stale (409) and becomes a conflict copy:
//     tab B shows the notice with links to both projects, moves to the copy,
//     and its next save goes there. Prints COPY_ID=.
//   node saves.mjs <base-url> <session-token> <artifacts-dir> thumbnail <project id>
//     A rename, "Save now": the page uploads a stage snapshot to
//     /internalapi/project/thumbnail/{id}/set/ (200).
//   node saves.mjs <base-url> <session-token> <artifacts-dir> load-sb3 <file.sb3> <sprite name>
//     A fresh editor page, File → "Load from your computer" with the file:
//     the editor shows the sprite of that file.
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
const pages = [];

async function newPage(name) {
  const page = await context.newPage();
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(base) && !u.startsWith('data:') && !u.startsWith('blob:')) foreign.push(u);
  });
  // Any confirm() (e.g. "Replace contents of the current project?") is a yes.
  page.on('dialog', (d) => d.accept());
  // The GUI is chatty; only the page's own messages help here.
  page.on('console', (m) => { if (m.text().startsWith('cubby')) console.log(`[${name}] ${m.text()}`); });
  page.on('pageerror', (e) => console.log(`[${name} page error] ${e}`));
  pages.push([name, page]);
  return page;
}

const spriteInput = (page) => page.locator('input[class*="sprite-info_sprite-input"]');

async function openEditor(page, url) {
  await page.goto(url, { waitUntil: 'load', timeout: LONG });
  await spriteInput(page).waitFor({ state: 'visible', timeout: LONG });
}

async function spriteNameIs(page, name) {
  await page.waitForFunction(
    (n) => document.querySelector('input[class*="sprite-info_sprite-input"]')?.value === n,
    name, { timeout: 60000 }).catch(() => fail(`the sprite is not named ${name}`));
}

async function rename(page, name) {
  await spriteInput(page).fill(name);
  await spriteInput(page).press('Enter');
}

async function openFileMenu(page) {
  await page.locator('[class*="menu-bar_menu-bar-item"]', { hasText: 'File' }).first().click();
}

// File → Save now; resolves with the PUT's response (after any follow-up the
// page makes, the caller waits for those itself).
async function saveNow(page, projectId) {
  await page.bringToFront();
  await openFileMenu(page);
  const put = page.waitForResponse(
    (r) => r.url().startsWith(base + '/projects/' + projectId) && r.request().method() === 'PUT', { timeout: 60000 });
  await page.getByText('Save now', { exact: true }).click();
  return put;
}

// A new project: the editor creates it (exactly 200) and the page moves to it.
async function createProject(page) {
  const created = page.waitForResponse(
    (r) => r.url() === base + '/projects/' && r.request().method() === 'POST', { timeout: LONG });
  await openEditor(page, base + '/editor');
  const resp = await created;
  if (resp.status() !== 200) fail('project create answered ' + resp.status());
  const id = (await resp.json())['content-name'];
  await page.waitForURL('**/editor?project=' + id, { timeout: 30000 });
  return id;
}

async function noSaveError(page) {
  if (await page.getByText('Project could not save.').count()) fail('the editor shows a save error');
}

async function conflict() {
  const [id] = rest;
  // Both tabs open the project as saved now (version 1): the version comes with the body.
  const [a, b] = [await newPage('A'), await newPage('B')];
  for (const page of [a, b]) {
    const loaded = page.waitForResponse((r) => r.url() === base + '/projects/' + id && r.request().method() === 'GET',
      { timeout: LONG });
    await openEditor(page, base + '/editor?project=' + id);
    const etag = (await loaded).headers()['etag'];
    if (etag !== '"1"') fail('GET /projects/' + id + ' ETag is ' + etag);
  }

  await rename(a, 'Alpha');
  await rename(b, 'Bravo');

  const aSave = await saveNow(a, id);
  if (aSave.status() !== 200) fail('tab A save answered ' + aSave.status());
  if (!aSave.url().endsWith('?version=1')) fail('tab A saved without its version: ' + aSave.url());
  if (aSave.headers()['etag'] !== '"2"') fail('tab A save ETag ' + aSave.headers()['etag']);

  // Tab B still holds version 1: its save is refused, and becomes a copy.
  const copied = b.waitForResponse((r) => r.url().startsWith(base + '/projects/?') && r.request().method() === 'POST',
    { timeout: 60000 });
  const bSave = await saveNow(b, id);
  if (bSave.status() !== 409) fail('tab B stale save answered ' + bSave.status());
  const copyResp = await copied;
  if (copyResp.status() !== 200) fail('conflict copy answered ' + copyResp.status());
  const q = new URL(copyResp.url()).searchParams;
  if (q.get('is_copy') !== '1' || q.get('original_id') !== String(id)) fail('copy query ' + copyResp.url());
  const copy = (await copyResp.json())['content-name'];
  console.log('COPY_ID=' + copy);
  await b.waitForURL('**/editor?project=' + copy, { timeout: 30000 });

  // The notice, with a link to each project.
  const notice = b.locator('#cubby-conflict[role="alert"]');
  await notice.waitFor({ state: 'visible', timeout: 30000 }).catch(() => fail('no conflict notice'));
  const text = await notice.innerText();
  console.log('NOTICE=' + JSON.stringify(text));
  if (!text.includes('(conflict copy)')) fail('the notice does not name the copy: ' + text);
  const hrefs = await notice.locator('a').evaluateAll((as) => as.map((x) => x.getAttribute('href')));
  for (const want of ['/editor?project=' + id, '/editor?project=' + copy]) {
    if (!hrefs.includes(want)) fail(`the notice has no link to ${want}: ${hrefs}`);
  }
  await noSaveError(b);
  await b.waitForFunction(
    () => document.querySelector('input[class*="project-title-input_title-field"]')?.value === 'Space Game (conflict copy)',
    null, { timeout: 10000 }).catch(() => fail('the title field does not show the copy\'s title'));
  await b.screenshot({ path: path.join(artifacts, 'editor-conflict.png') });

  // Tab B's next save goes to the copy, with the copy's version.
  await rename(b, 'Charlie');
  const again = await saveNow(b, copy);
  if (again.status() !== 200 || !again.url().endsWith('/projects/' + copy + '?version=1')) {
    fail(`tab B's next save: ${again.status()} ${again.url()}`);
  }
  await noSaveError(b);
  await noSaveError(a);
}

async function thumbnail() {
  const [id] = rest;
  const page = await newPage('T');
  await openEditor(page, base + '/editor?project=' + id);
  await rename(page, 'Snapshot');
  const saved = await saveNow(page, id);
  if (saved.status() !== 200) fail('save answered ' + saved.status());
  const savedAt = Date.now();
  const upload = await page.waitForResponse(
    (r) => r.url() === `${base}/internalapi/project/thumbnail/${id}/set/` && r.request().method() === 'POST',
    { timeout: 30000 }).catch(() => fail('no thumbnail upload after the save'));
  console.log('THUMBNAIL_AFTER_MS=' + (Date.now() - savedAt));
  if (upload.status() !== 200) fail('thumbnail upload answered ' + upload.status());
  // (The caller checks the stored bytes: playwright does not see a Blob body.)
  const type = upload.request().headers()['content-type'];
  if (type !== 'image/png') fail('the upload was sent as ' + type);
}

async function loadSb3() {
  const [file, spriteName] = rest;
  const page = await newPage('L');
  await createProject(page);
  await openFileMenu(page);
  const chooser = page.waitForEvent('filechooser', { timeout: 30000 });
  await page.getByText('Load from your computer', { exact: true }).click();
  await (await chooser).setFiles(file);
  await spriteNameIs(page, spriteName);
  await page.screenshot({ path: path.join(artifacts, 'editor-load-sb3.png') });
}

const scenarios = { conflict, thumbnail, 'load-sb3': loadSb3 };
let failed = false;
try {
  if (!scenarios[scenario]) fail('unknown scenario ' + scenario);
  await scenarios[scenario]();
  if (foreign.length) fail('requests left cubby\'s origin: ' + foreign.slice(0, 5).join(', '));
  console.log('OK');
} catch (err) {
  failed = true;
  console.error('FAIL: ' + (err && err.stack ? err.stack : String(err)));
  for (const [name, page] of pages) {
    await page.screenshot({ path: path.join(artifacts, `editor-${scenario}-${name}-failure.png`) }).catch(() => {});
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);

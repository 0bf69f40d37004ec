// An assignment from start to feedback, in Debian's headless Chromium with
// the stock Scratch editor served by cubby:
//
//   node assignments.mjs <base-url> <teacher-token> <student-token> <starter title> <artifacts-dir> <screenshot-dir>
//
// The teacher makes an assignment with the starter project on the home
// page's form; the student starts it (the real editor opens on their copy),
// renames the sprite to "Rocket", saves with File → "Save now", and submits
// on the home page. The teacher sees the submission on the roster, opens it
// read-only in the editor ("Rocket" is there; no save request is made, even
// after an edit), and gives feedback; the student sees the feedback on `/`.
// Screenshots: assignments-roster.png (the teacher's roster) and
// assignments-student.png (the student's home page with the feedback).
//
// Prints ASSIGNMENT_ID=, PROJECT_ID=, SUBMISSION_ID=, READ_ONLY_SAVES=0,
// FEEDBACK_SEEN=true and OK. Every request must stay on cubby's origin.
import path from 'node:path';
import { chromium } from 'playwright-core';

const [base, teacherToken, studentToken, starterTitle, artifacts, shots] = process.argv.slice(2);
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
const foreign = [];
const pages = [];

async function session(name, token) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addCookies([{ name: 'cubby_session', value: token, url: base }]);
  const page = await context.newPage();
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(base) && !u.startsWith('data:') && !u.startsWith('blob:')) foreign.push(u);
  });
  page.on('dialog', (d) => d.accept());
  page.on('console', (m) => { if (m.text().startsWith('cubby')) console.log(`[${name}] ${m.text()}`); });
  page.on('pageerror', (e) => console.log(`[${name} page error] ${e}`));
  pages.push([name, page]);
  return page;
}

const spriteInput = (page) => page.locator('input[class*="sprite-info_sprite-input"]');

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

// A form's button, then the page it lands on.
async function post(page, action, urlPattern) {
  const form = page.locator(`form[action="${action}"]`);
  await Promise.all([page.waitForURL(urlPattern, { timeout: LONG }), form.locator('button[type="submit"]').click()]);
}

async function run() {
  const teacher = await session('teacher', teacherToken);
  const student = await session('student', studentToken);

  // The teacher's "New assignment" form on the home page.
  await teacher.goto(base + '/', { waitUntil: 'load' });
  const create = teacher.locator('form.new-assignment').first();
  await create.locator('input[name="title"]').fill('Rocket race');
  await create.locator('textarea[name="instructions"]').fill('Rename the cat to Rocket.\nThen submit.');
  await create.locator('select[name="starter_project_id"]').selectOption({ label: starterTitle });
  await create.locator('input[name="due_at"]').fill('2037-06-01T12:00');
  await create.locator('input[name="late_submissions"]').check();
  await Promise.all([teacher.waitForURL(/\/assignment\/\d+\?msg=created$/, { timeout: LONG }),
    create.locator('button[type="submit"]').click()]);
  const assignment = /\/assignment\/(\d+)/.exec(teacher.url())[1];
  console.log('ASSIGNMENT_ID=' + assignment);

  // The student starts it: the editor opens on their copy of the starter.
  await student.goto(base + '/', { waitUntil: 'load' });
  if (!(await student.content()).includes('Rocket race')) fail('the student does not see the assignment');
  await post(student, `/home/assignments/${assignment}/start`, /\/editor\?project=\d+$/);
  const project = /project=(\d+)/.exec(student.url())[1];
  console.log('PROJECT_ID=' + project);
  await spriteInput(student).waitFor({ state: 'visible', timeout: LONG });
  await spriteNameIs(student, 'Cat');
  await rename(student, 'Rocket');
  await openFileMenu(student);
  const put = student.waitForResponse(
    (r) => r.url().startsWith(base + '/projects/' + project) && r.request().method() === 'PUT', { timeout: 60000 });
  const thumb = student.waitForResponse(
    (r) => r.url().includes('/internalapi/project/thumbnail/' + project + '/set/'), { timeout: 30000 }).catch(() => null);
  await student.getByText('Save now', { exact: true }).click();
  if ((await put).status() !== 200) fail('the student\'s save answered ' + (await put).status());
  await thumb; // the roster shows it (a missing one only shows the placeholder)

  // Submit on the home page.
  await student.goto(base + '/', { waitUntil: 'load' });
  await post(student, `/home/assignments/${assignment}/submit`, /\/\?assign_msg=submitted$/);
  if (!(await student.locator('p.notice').innerText()).includes('Submitted')) fail('no "Submitted" message');

  // The roster shows the submission; open it read-only.
  await teacher.goto(`${base}/assignment/${assignment}`, { waitUntil: 'load' });
  const row = teacher.locator('table.roster tr', { hasText: 'ada' });
  if (!(await row.innerText()).includes('submitted')) fail('the roster does not show the submission: ' + await row.innerText());
  const href = await row.locator('a', { hasText: 'Open read-only' }).getAttribute('href');
  const submission = /submission=(\d+)/.exec(href)[1];
  console.log('SUBMISSION_ID=' + submission);

  const writes = [];
  teacher.on('request', (r) => {
    const m = r.method();
    if (m !== 'GET' && m !== 'HEAD') writes.push(m + ' ' + r.url());
  });
  const body = teacher.waitForResponse((r) => r.url() === `${base}/api/v1/submissions/${submission}/body`, { timeout: LONG });
  await teacher.goto(base + href, { waitUntil: 'load', timeout: LONG });
  if ((await body).status() !== 200) fail('the submission body answered ' + (await body).status());
  await spriteInput(teacher).waitFor({ state: 'visible', timeout: LONG });
  await spriteNameIs(teacher, 'Rocket');
  const banner = await teacher.locator('#cubby-readonly').innerText();
  console.log('BANNER=' + JSON.stringify(banner));
  if (!banner.includes('Read-only') || !banner.includes('Rocket race')) fail('banner: ' + banner);
  await openFileMenu(teacher);
  if (await teacher.getByText('Save now', { exact: true }).count()) fail('the read-only editor offers "Save now"');
  await teacher.keyboard.press('Escape');
  await teacher.screenshot({ path: path.join(artifacts, 'assignments-read-only.png') });
  // An edit in the read-only editor is never saved (nor autosaved).
  await rename(teacher, 'Changed by the teacher');
  await teacher.waitForTimeout(5000);
  await teacher.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
  await teacher.waitForTimeout(1000);
  console.log('READ_ONLY_SAVES=' + writes.length);
  if (writes.length) fail('the read-only editor wrote: ' + writes.join(', '));

  // Feedback on the roster.
  await teacher.goto(`${base}/assignment/${assignment}`, { waitUntil: 'load' });
  const fb = teacher.locator(`form[action="/assignment/${assignment}/feedback/${submission}"]`);
  await fb.locator('textarea[name="comment"]').fill('Great rocket! Next: make it fly.');
  await fb.locator('input[name="grade"]').fill('A');
  await Promise.all([teacher.waitForURL(/\?msg=feedback_saved$/, { timeout: LONG }), fb.locator('button[type="submit"]').click()]);
  await teacher.screenshot({ path: path.join(shots, 'assignments-roster.png'), fullPage: true });

  // The student sees it on the home page.
  await student.goto(base + '/#assignments', { waitUntil: 'load' });
  const card = student.locator('article.assignment', { hasText: 'Rocket race' });
  const text = await card.innerText();
  const seen = text.includes('Great rocket! Next: make it fly.') && text.includes('Grade: A');
  console.log('FEEDBACK_SEEN=' + seen);
  if (!seen) fail('the student does not see the feedback: ' + text);
  await student.locator('#assignments').evaluate((h) => h.scrollIntoView());
  await student.screenshot({ path: path.join(shots, 'assignments-student.png') });
}

let failed = false;
try {
  await run();
  if (foreign.length) fail('requests left cubby\'s origin: ' + foreign.slice(0, 5).join(', '));
  console.log('OK');
} catch (err) {
  failed = true;
  console.error('FAIL: ' + (err && err.stack ? err.stack : String(err)));
  for (const [name, page] of pages) {
    await page.screenshot({ path: path.join(artifacts, `assignments-${name}-failure.png`) }).catch(() => {});
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);

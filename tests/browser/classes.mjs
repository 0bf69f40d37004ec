// A class made on the home page, in Debian's headless Chromium: a teacher
// logs in with the development login form, makes a class and reads its code;
// a student logs in in another browser context and joins with the code typed
// in lower case; the teacher sees the student in the class and shares a
// project with it through the share form; the student's home page then lists
// that project under "Shared with my classes".
//
//   node classes.mjs <base-url> <teacher> <student> <project-title> [screenshot.png]
//
// Prints `CODE=<code>`, `MEMBER_SEEN=true`, `SHARED_SEEN=true` and `OK`.
import { chromium } from 'playwright-core';

const [base, teacherName, studentName, title, screenshot] = process.argv.slice(2);
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-quic'],
});

function fail(msg) {
  console.error('FAIL: ' + msg);
  process.exit(1);
}

async function login(name, role) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(base + '/', { waitUntil: 'load' });
  const form = page.locator('form[action="/auth/dev/form"]');
  await form.locator('input[name="username"]').fill(name);
  await form.locator('select[name="role"]').selectOption(role);
  await Promise.all([page.waitForURL(base + '/'), form.locator('button[type="submit"]').click()]);
  if (!(await page.content()).includes('Logged in as')) fail(name + ' is not logged in');
  return page;
}

async function submit(page, formSelector, expectedMessage) {
  const form = page.locator(formSelector);
  await Promise.all([page.waitForLoadState('load'), form.locator('button[type="submit"]').click()]);
  await page.waitForSelector('p.notice');
  const notice = await page.locator('p.notice').innerText();
  if (!notice.includes(expectedMessage)) fail(`${formSelector}: "${notice}"`);
}

const teacher = await login(teacherName, 'teacher');
await teacher.locator('form[action="/home/classes"] input[name="name"]').fill('Robots club');
await submit(teacher, 'form[action="/home/classes"]', 'Class created');
const code = (await teacher.locator('code.join-code').first().innerText()).trim();
if (!/^[2-9A-HJKMNP-Z]{8}$/.test(code)) fail('no code shown: ' + code);
console.log('CODE=' + code);

const student = await login(studentName, 'student');
await student.locator('form[action="/home/classes/join"] input[name="code"]').fill(code.toLowerCase());
await submit(student, 'form[action="/home/classes/join"]', 'You are in the class');

await teacher.goto(base + '/', { waitUntil: 'load' });
const roster = await teacher.locator('section.class table').innerText();
const memberSeen = roster.includes(studentName);
console.log('MEMBER_SEEN=' + memberSeen);
if (!memberSeen) fail('the student is not in the roster: ' + roster);
const share = teacher.locator('form[action="/home/classes/share"]');
await share.locator('select[name="project_id"]').selectOption({ label: title });
await share.locator('select[name="group_id"]').selectOption({ label: 'Robots club' });
await submit(teacher, 'form[action="/home/classes/share"]', 'Shared with the class');

await student.goto(base + '/', { waitUntil: 'load' });
const html = await student.content();
const sharedPart = html.slice(html.indexOf('Shared with my classes'));
const sharedSeen = sharedPart.includes(title);
console.log('SHARED_SEEN=' + sharedSeen);
if (!sharedSeen) fail('the shared project is not on the student\'s home page');
if (screenshot) {
  await teacher.screenshot({ path: screenshot, fullPage: true });
}
console.log('OK');
await browser.close();

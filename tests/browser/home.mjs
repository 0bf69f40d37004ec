// The home page a child uses, in Debian's headless Chromium, checked with
// axe-core (the npm package, injected into each page): no violation of
// impact "serious" or "critical" on the login page, on a student's home page
// (their projects as cards, one with a thumbnail, projects shared with their
// class, the class section, the trash) at 1366×768 (the common school
// Chromebook) and at 768×1024 (a tablet), on a project's page, and on the
// editor page when the editor is installed. Also: nothing scrolls sideways, every button, input
// and button-like link is at least 44 px high, Tab reaches "New project" and
// then each card's "Open" link in the cards' order, and every focused
// control shows an outline.
//
//   node home.mjs <base-url> <student-token> <out-dir> <card titles, |-separated> [editor]
//
// Writes home-1366.png, home-1366-full.png, home-768.png, project.png and
// login.png (and editor-axe.png) to <out-dir>. Prints one
// `AXE <page> serious=<n>` line per page checked, each such violation on
// lines of its own, and `OK` when everything passed.
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core');

const [base, token, outDir, titlesArg, withEditor] = process.argv.slice(2);
const titles = titlesArg.split('|');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const failures = [];

function fail(msg) {
  failures.push(msg);
  console.log('FAIL: ' + msg);
}

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-quic',
    '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
});

async function newPage(viewport, loggedIn) {
  const context = await browser.newContext({ viewport });
  if (loggedIn) await context.addCookies([{ name: 'cubby_session', value: token, url: base }]);
  return context.newPage();
}

// Runs axe-core on the page (or on an axe context: `{ include, exclude }`)
// and prints every violation; a serious or critical one fails the run
// unless `informational`.
async function axe(page, label, context = null, informational = false) {
  await page.addScriptTag({ path: AXE });
  const results = await page.evaluate(async (ctx) => {
    // eslint-disable-next-line no-undef
    const r = await window.axe.run(ctx || document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: n.failureSummary })),
    }));
  }, context);
  const bad = results.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  console.log(`AXE ${label} serious=${bad.length} all=${results.length}`);
  for (const v of results) {
    const line = `  ${v.impact} ${v.id}: ${v.help} (${v.nodes.length} nodes: ` +
      v.nodes.slice(0, 4).map((n) => n.target).join('; ') + ')';
    console.log(line);
    if (bad.includes(v) && !informational) {
      for (const n of v.nodes.slice(0, 4)) console.log('    ' + (n.summary || '').replace(/\n/g, ' | '));
    }
  }
  if (bad.length && !informational) fail(`${label}: ${bad.map((v) => v.id).join(', ')}`);
  return bad.map((v) => v.id);
}

// Nothing wider than the window, and big enough tap targets.
async function layout(page, label) {
  const found = await page.evaluate(() => {
    const wide = document.documentElement.scrollWidth > window.innerWidth + 1;
    const small = [];
    for (const el of document.querySelectorAll('main button, main .button, main input, main select')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.height < 44 - 0.5) small.push(`${el.tagName} "${(el.innerText || el.name || '').trim()}" ${r.height}px`);
    }
    return { wide, small, width: document.documentElement.scrollWidth };
  });
  console.log(`LAYOUT ${label} width=${found.width} small=${found.small.length}`);
  if (found.wide) fail(`${label}: the page scrolls sideways (${found.width}px)`);
  if (found.small.length) fail(`${label}: tap targets under 44px: ${found.small.join('; ')}`);
}

// Tabs through the page; "New project" first, then each card's Open link in
// the cards' order, each with a visible outline.
async function keyboard(page) {
  const stops = [];
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press('Tab');
    const stop = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return null;
      const style = getComputedStyle(el);
      return {
        name: (el.getAttribute('aria-label') || el.innerText || el.value || '').trim().replace(/\s+/g, ' '),
        outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2,
      };
    });
    if (!stop) break;
    stops.push(stop);
  }
  const names = stops.map((s) => s.name);
  console.log('TAB ' + names.slice(0, 12).join(' > '));
  const newAt = names.findIndex((n) => n.endsWith('New project'));
  if (newAt < 0) fail('Tab never reaches "New project"');
  const opens = names.map((n, i) => [n, i]).filter(([n]) => n.startsWith('Open '));
  const expected = titles.map((t) => 'Open ' + t);
  const got = opens.map(([n]) => n).slice(0, expected.length);
  console.log('OPEN_ORDER ' + got.join(' | '));
  if (JSON.stringify(got) !== JSON.stringify(expected)) fail(`Open links in Tab order: ${got} (expected ${expected})`);
  if (opens.length && opens[0][1] < newAt) fail('an Open link comes before "New project"');
  const unoutlined = stops.filter((s) => !s.outline).map((s) => s.name);
  if (unoutlined.length) fail('focused without an outline: ' + unoutlined.join('; '));
}

// Logged out: the login page.
const login = await newPage({ width: 1366, height: 768 }, false);
await login.goto(base + '/', { waitUntil: 'load' });
await axe(login, 'login');
await layout(login, 'login');
await login.screenshot({ path: `${outDir}/login.png` });

// A student's home page on a Chromebook…
const home = await newPage({ width: 1366, height: 768 }, true);
await home.goto(base + '/', { waitUntil: 'networkidle' });
if (!(await home.content()).includes('Logged in as')) fail('the student is not logged in');
const loaded = await home.evaluate(() => document.querySelectorAll('.cards .card').length);
console.log('CARDS=' + loaded);
await axe(home, 'home-1366');
await layout(home, 'home-1366');
await home.screenshot({ path: `${outDir}/home-1366.png` });
await home.screenshot({ path: `${outDir}/home-1366-full.png`, fullPage: true });
await keyboard(home);

// A project's own page (its versions), reached from the first card.
const versions = await home.locator('.card a[href^="/project/"]').first().getAttribute('href');
const project = await newPage({ width: 1366, height: 768 }, true);
await project.goto(base + versions, { waitUntil: 'load' });
await axe(project, 'project');
await layout(project, 'project');
await project.screenshot({ path: `${outDir}/project.png` });

// …and on a tablet.
const tablet = await newPage({ width: 768, height: 1024 }, true);
await tablet.goto(base + '/', { waitUntil: 'networkidle' });
await axe(tablet, 'home-768');
await layout(tablet, 'home-768');
await tablet.screenshot({ path: `${outDir}/home-768.png` });

if (withEditor === 'editor') {
  const editor = await newPage({ width: 1366, height: 768 }, true);
  await editor.goto(base + '/editor', { waitUntil: 'load', timeout: 120000 });
  await editor.locator('[class*="menu-bar_menu-bar"]').first().waitFor({ timeout: 60000 });
  await editor.waitForTimeout(1500);
  // cubby's part of the editor page (the document, its title and language,
  // cubby's banners and strips) must pass. The stock GUI inside #app is the
  // npm bundle, which cubby serves as it is and cannot change; with
  // scratch-gui-standalone 15.1.1 axe finds these serious or critical
  // violations in it, all in the GUI's own React markup:
  //   image-alt            the menu bar's and buttons' <img> icons have no alt
  //   color-contrast       white on the GUI's light purple/green buttons, grey
  //                        tab labels, the project title field
  //   aria-prohibited-attr aria-label on an SVG <g> of the blocks workspace
  //   nested-interactive   a sprite tile that is focusable around its own
  //                        delete button
  // They are printed below (not failing) so a GUI upgrade's changes show.
  const gui = await axe(editor, 'editor-gui', { include: [['#app']] }, true);
  console.log('GUI_RULES=' + gui.sort().join(','));
  await axe(editor, 'editor', { exclude: [['#app']] });
  await editor.screenshot({ path: `${outDir}/editor-axe.png` });
}

await browser.close();
if (failures.length) {
  console.log(`FAILED ${failures.length}`);
  process.exit(1);
}
console.log('OK');

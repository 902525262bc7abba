// What the VS Code (code-server) drivers share: environment input, the step log, headless Chromium on code-server
// with $FILE open, and the JSON result written to $RESULT however the drive ends.
const fs = require('fs');
const { chromium } = require(process.env.PLAYWRIGHT_CORE);

const env = (name) => {
  if (!process.env[name]) throw new Error(`${name} is not set`);
  return process.env[name];
};

// Runs `drive(page, step)` on code-server's workbench with $FILE open (opened with Ctrl+P, as a user would);
// result.ok says whether it finished, result.why what stopped it.
async function driveVSCode(result, drive) {
  const step = (name) => { result.steps.push(name); console.error(`step: ${name}`); };
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--disable-dev-shm-usage'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 560 } });
    await page.goto(`${env('URL')}/?folder=${encodeURIComponent(env('FOLDER'))}`);
    await page.waitForSelector('.monaco-workbench', { timeout: 60000 });
    step('workbench');
    await page.keyboard.press('Control+P');
    await page.keyboard.type(env('FILE'));
    await page.waitForSelector('.quick-input-list .monaco-list-row', { timeout: 20000 });
    await page.keyboard.press('Enter');
    await page.waitForSelector('.monaco-editor .view-lines', { timeout: 20000 });
    step('file open');
    await drive(page, step);
    result.ok = true;
  } catch (err) {
    result.ok = false;
    result.why = String(err && err.stack || err);
  } finally {
    fs.writeFileSync(env('RESULT'), JSON.stringify(result));
    await browser.close();
  }
}

module.exports = { env, driveVSCode };

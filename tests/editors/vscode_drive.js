// Drives VS Code (code-server) in headless Chromium the way a user would: opens a file with Ctrl+P, types at its
// end, waits for the extension's ghost text, takes a screenshot, accepts with Tab, saves with Ctrl+S; with
// $PARTIAL, types that on a new line and takes one word of the next ghost text with Ctrl+Right; then shows the
// statistics, restarts the server and turns completions off with the extension's commands, waiting for the status
// bar to say so each time.
// Input and output through environment variables; the result is JSON in $RESULT (read by test_vscode.py).
const { env, driveVSCode } = require('./vscode_common');

const result = { steps: [], statusBar: [] };

async function statusBarText(page) {
  const item = page.locator('.statusbar-item', { hasText: 'CodeGen' }).first();
  if (!(await item.count())) return null;
  const classes = (await item.locator('.codicon').first().getAttribute('class').catch(() => '')) || '';
  const icon = classes.split(/\s+/).find((c) => c.startsWith('codicon-') && !c.startsWith('codicon-modifier'));
  return `${(icon || '').replace('codicon-', '')} ${(await item.innerText()).trim()}`;
}

async function waitForStatus(page, icon, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const text = await statusBarText(page);
    if (text && result.statusBar[result.statusBar.length - 1] !== text) result.statusBar.push(text);
    if (text && text.startsWith(icon)) return text;
    await page.waitForTimeout(100);
  }
  throw new Error(`status bar never showed ${icon}; saw ${JSON.stringify(result.statusBar)}`);
}

async function runCommand(page, title) {
  await page.keyboard.press('F1');
  await page.keyboard.type(title);
  await page.waitForSelector('.quick-input-list .monaco-list-row', { timeout: 20000 });
  await page.keyboard.press('Enter');
}

driveVSCode(result, async (page, step) => {
  result.ready = await waitForStatus(page, 'check', 90000);
  step('server ready');
  await page.click('.monaco-editor .view-lines');
  await page.keyboard.press('Control+End');
  await page.keyboard.type(env('TYPE'), { delay: 60 });
  const ghost = page.locator('.monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text').first();
  await ghost.waitFor({ state: 'visible', timeout: 60000 });
  await page.waitForTimeout(300); // let the rest of a multi-line suggestion render before reading it
  result.ghost = (await page.locator('.monaco-editor .ghost-text-decoration').allInnerTexts()).join('');
  step('ghost text');
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT });
  await page.keyboard.press('Tab');
  await page.waitForTimeout(300);
  await page.keyboard.press('Control+S');
  await page.waitForTimeout(800);
  step('accepted and saved');
  if (process.env.PARTIAL) {
    await page.keyboard.press('End');
    await page.keyboard.type(process.env.PARTIAL, { delay: 60 });
    await ghost.waitFor({ state: 'visible', timeout: 60000 });
    await page.waitForTimeout(300);
    result.partialGhost = (await page.locator('.monaco-editor .ghost-text-decoration').allInnerTexts()).join('');
    await page.keyboard.press('Control+ArrowRight');
    await page.waitForTimeout(500);
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+S');
    await page.waitForTimeout(800);
    step('accepted a word');
  }
  await runCommand(page, 'codegen-lsp: Show statistics');
  const toast = page.locator('.notifications-toasts .notification-list-item-message', { hasText: 'requests' }).first();
  await toast.waitFor({ state: 'visible', timeout: 20000 });
  result.stats = await toast.innerText();
  step('statistics');
  await runCommand(page, 'codegen-lsp: Restart server');
  result.restarting = await waitForStatus(page, 'sync', 20000);
  result.restarted = await waitForStatus(page, 'check', 90000);
  step('restarted');
  await runCommand(page, 'codegen-lsp: Toggle completions');
  result.toggled = await waitForStatus(page, 'circle-slash', 20000);
  step('toggled off');
});

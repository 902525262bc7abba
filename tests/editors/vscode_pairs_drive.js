// Drives VS Code (code-server) at auto-closed pairs: opens $FILE, waits for the extension's ready status, then for
// each step of $STEPS (JSON: [{line, column, type}], 1-based line and column) puts the cursor there, types `type`
// (VS Code closes the bracket or quote typed), waits for the ghost text, reads what is drawn (the ghost parts on
// the cursor line and the lines added below it), accepts with Tab, and reads the editor's text. Result: JSON.
const { env, driveVSCode } = require('./vscode_common');

const result = { steps: [], shown: [] };

async function statusIcon(page) {
  const item = page.locator('.statusbar-item', { hasText: 'CodeGen' }).first();
  if (!(await item.count())) return '';
  return (await item.locator('.codicon').first().getAttribute('class').catch(() => '')) || '';
}

driveVSCode(result, async (page, step) => {
  const deadline = Date.now() + 90000;
  while (!(await statusIcon(page)).includes('codicon-check')) {
    if (Date.now() > deadline) throw new Error('the server never became ready');
    await page.waitForTimeout(200);
  }
  step('server ready');
  await page.click('.monaco-editor .view-lines');
  const { line, column, type } = JSON.parse(env('STEP'));
  await page.keyboard.press('Control+G');
  await page.keyboard.type(`${line}:${column}`);
  await page.keyboard.press('Enter');
  await page.waitForTimeout(300);
  await page.keyboard.type(type, { delay: 80 });
  const ghost = page.locator('.monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text').first();
  try {
    await ghost.waitFor({ state: 'visible', timeout: Number(process.env.GHOST_TIMEOUT_MS || 60000) });
  } catch (err) {
    result.view_lines = (await page.locator('.monaco-editor .view-lines .view-line').allInnerTexts());
    if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT });
    throw err;
  }
  await page.waitForTimeout(600); // let the rest of a multi-line suggestion render before reading it
  const nbsp = (s) => s.replace(/\u00a0/g, ' ');
  result.ghost_parts = (await page.locator('.monaco-editor .ghost-text-decoration').allInnerTexts()).map(nbsp);
  // the lines a multi-line suggestion adds below the cursor's line (with what follows the cursor moved there)
  result.ghost_lines = (await page.evaluate(() => {
    const lines = new Set();
    for (const part of document.querySelectorAll('.monaco-editor .view-zones .ghost-text')) {
      lines.add(part.closest('.view-line') || part.parentElement);
    }
    return [...lines].map((line) => line.textContent);
  })).map(nbsp);
  result.view_lines = (await page.locator('.monaco-editor .view-lines .view-line').allInnerTexts()).map(nbsp);
  step('ghost text');
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT });
  await page.keyboard.press('Tab');
  await page.waitForTimeout(400);
  await page.keyboard.press('Control+S');
  await page.waitForTimeout(800);
  step('accepted and saved');
});

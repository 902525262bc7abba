-- What the Neovim drivers (nvim_drive.lua, nvim011_drive.lua) share: the result they write as JSON to
-- $CODEGEN_TEST_RESULT, waiting without blocking the event loop, feeding keys with remapping (so the plugin's
-- mappings are used), and the server's state from codegen/stats.
local M = {}

M.typed = os.getenv('CODEGEN_TEST_TYPE') or 'value = '
M.result = { steps = {} }
local out_path = assert(os.getenv('CODEGEN_TEST_RESULT'))

function M.write()
  local f = assert(io.open(out_path, 'w'))
  f:write(vim.json.encode(M.result))
  f:close()
end

function M.finish(ok, why)
  M.result.ok, M.result.why = ok, why
  M.write()
  vim.cmd(ok and 'qall!' or 'cquit! 1')
end

-- Polls `probe` every 50 ms until it returns a value, then calls `after` with it; fails after `timeout_ms`.
function M.wait_for(name, timeout_ms, probe, after)
  local deadline = vim.uv.now() + timeout_ms
  local function poll()
    local ok, value = pcall(probe)
    if not ok then return M.finish(false, name .. ': ' .. tostring(value)) end
    if value ~= nil and value ~= false then table.insert(M.result.steps, name); return after(value) end
    if vim.uv.now() > deadline then return M.finish(false, 'timed out waiting for ' .. name) end
    vim.defer_fn(poll, 50)
  end
  vim.defer_fn(poll, 50) -- first let the loop take in the keys fed just before
end

function M.feed(keys) vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(keys, true, false, true), 'mt', false) end

-- 'ready' or 'failed' once the server has loaded its model (or failed to); nil before.
function M.server_state()
  local client = require('codegen_lsp').clients(0)[1]
  if not client then return nil end
  local response = client:request_sync('codegen/stats', vim.NIL, 2000)
  local state = response and response.result and response.result.state
  if state == 'ready' or state == 'failed' then return state end
end

return M

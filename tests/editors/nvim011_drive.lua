-- Neovim 0.11 has no inline completion: the plugin offers the server's completion in the completion menu.
-- Types in insert mode, opens the menu with the plugin's <C-Space> key, accepts with <C-y>, and writes what it
-- saw as JSON to $CODEGEN_TEST_RESULT.
local out_path = assert(os.getenv('CODEGEN_TEST_RESULT'))
local typed = os.getenv('CODEGEN_TEST_TYPE') or 'value = '
local result = { steps = {} }
local plugin = require('codegen_lsp')

local function finish(ok, why)
  result.ok, result.why = ok, why
  local f = assert(io.open(out_path, 'w'))
  f:write(vim.json.encode(result))
  f:close()
  vim.cmd(ok and 'qall!' or 'cquit! 1')
end

local function wait_for(name, timeout_ms, probe, after)
  local deadline = vim.uv.now() + timeout_ms
  local function poll()
    local ok, value = pcall(probe)
    if not ok then return finish(false, name .. ': ' .. tostring(value)) end
    if value ~= nil and value ~= false then table.insert(result.steps, name); return after(value) end
    if vim.uv.now() > deadline then return finish(false, 'timed out waiting for ' .. name) end
    vim.defer_fn(poll, 50)
  end
  vim.defer_fn(poll, 50)
end

local function feed(keys) vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(keys, true, false, true), 'mt', false) end

local function server_state()
  local client = plugin.clients(0)[1]
  if not client then return nil end
  local response = client:request_sync('codegen/stats', vim.NIL, 2000)
  local state = response and response.result and response.result.state
  if state == 'ready' or state == 'failed' then return state end
end

wait_for('ready', 60000, server_state, function(state)
  result.state, result.mode = state, plugin.mode()
  if state ~= 'ready' then return finish(false, 'model failed to load') end
  feed('GA' .. typed)
  wait_for('typed', 5000, function() return vim.api.nvim_get_current_line():find(typed, 1, true) ~= nil end, function()
    result.line_before = vim.api.nvim_get_current_line()
    feed('<C-Space>')
    wait_for('menu', 30000, function() return vim.fn.pumvisible() == 1 end, function()
      result.items = vim.tbl_map(function(item)
        return vim.tbl_get(item, 'user_data', 'nvim', 'lsp', 'completion_item', 'textEdit', 'newText') or item.word
      end, vim.fn.complete_info({ 'items' }).items)
      feed('<C-y>')
      wait_for('accepted', 5000, function() return vim.fn.pumvisible() == 0 and vim.api.nvim_get_current_line() end,
        function(line)
          result.line_after = line
          finish(true)
        end)
    end)
  end)
end)

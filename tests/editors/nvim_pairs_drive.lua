-- Drives Neovim 0.12 at an auto-closed pair: puts the cursor at $CODEGEN_TEST_ROW/$CODEGEN_TEST_COL (1-based
-- row, 0-based byte column), enters insert mode there (inline completion asks on InsertEnter), waits for the
-- ghost text, records how Neovim draws it (the extmark's text, its lines below, inline or overlay), types
-- $CODEGEN_TEST_TYPE if set (the rest must then be served typed-through and drawn again), accepts with the
-- plugin's Tab and records the buffer. The result is JSON in $CODEGEN_TEST_RESULT.
-- With $CODEGEN_TEST_KEYS the user types them in insert mode first, with an autopairs mapping (`(` inserts `()`
-- and puts the cursor between), and the ghost text is awaited on the line they leave: `def area(` types
-- `def area(¦)`, as with an autopairs plugin.
local drive = dofile(vim.fs.joinpath(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)), 'nvim_driver.lua'))
local result, finish, wait_for, feed = drive.result, drive.finish, drive.wait_for, drive.feed
local ns = vim.api.nvim_create_namespace('nvim.lsp.inline_completion')

local function ghost()
  for _, mark in ipairs(vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })) do
    local details = mark[4]
    local text = table.concat(vim.tbl_map(function(c) return c[1] end, details.virt_text or {}))
    local lines = vim.tbl_map(function(l) return table.concat(vim.tbl_map(function(c) return c[1] end, l)) end,
      details.virt_lines or {})
    if text ~= '' or #lines > 0 then
      return { text = text, lines = lines, pos = details.virt_text_pos, row = mark[2], col = mark[3] }
    end
  end
end

local function buffer() return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n') end

local function accept_and_finish()
  feed('<Tab>')
  local before = buffer()
  wait_for('accepted', 5000, function() return buffer() ~= before and buffer() end, function(text)
    result.after = text
    finish(true)
  end)
end

wait_for('ready', 60000, drive.server_state, function(state)
  if state ~= 'ready' then return finish(false, 'model failed to load') end
  vim.api.nvim_win_set_cursor(0, { tonumber(os.getenv('CODEGEN_TEST_ROW')), tonumber(os.getenv('CODEGEN_TEST_COL')) })
  result.before = buffer()
  local keys = os.getenv('CODEGEN_TEST_KEYS') or ''
  local typed_line
  if keys ~= '' then
    for open, close in pairs({ ['('] = ')', ['['] = ']', ['{'] = '}' }) do
      vim.keymap.set('i', open, open .. close .. '<Left>', { buffer = 0 })
    end
    typed_line = vim.api.nvim_get_current_line():sub(1, tonumber(os.getenv('CODEGEN_TEST_COL'))) .. keys
      :gsub('[%(%[{]', function(open) return open .. ({ ['('] = ')', ['['] = ']', ['{'] = '}' })[open] end)
  end
  feed('i' .. keys)
  local function ghost_on_typed_line()
    if typed_line and vim.api.nvim_get_current_line() ~= typed_line then return nil end
    return ghost()
  end
  wait_for('ghost text', 30000, ghost_on_typed_line, function(shown)
    result.ghost = shown
    result.line_with_ghost = vim.api.nvim_get_current_line()
    local typed = os.getenv('CODEGEN_TEST_TYPE') or ''
    if typed == '' then return accept_and_finish() end
    local client = require('codegen_lsp').clients(0)[1]
    local function stats() return client:request_sync('codegen/stats', vim.NIL, 2000).result end
    local asked = stats().requests
    feed(typed)
    -- Neovim redraws the old item at once (shifted by what was typed): wait for the server's answer to the
    -- request made after the typing (debounced 200 ms), then read what is drawn.
    wait_for('answer after typing', 30000, function()
      local now = stats()
      return now.requests > asked and vim.api.nvim_get_current_line() ~= result.line_with_ghost and now
    end, function(now)
      result.stats = now
      vim.defer_fn(function()
        result.ghost_after_typing = ghost()
        result.line_after_typing = vim.api.nvim_get_current_line()
        accept_and_finish()
      end, 300)
    end)
  end)
end)

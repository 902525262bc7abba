-- Drives a real Neovim the way a user would: loads editors/nvim from the runtimepath, types in insert mode,
-- waits for the server's ghost text, accepts it with the plugin's Tab mapping, and writes what it saw as JSON
-- to $CODEGEN_TEST_RESULT. Keys go through nvim_feedkeys with remapping, so the plugin's mappings are used;
-- waiting never blocks the event loop (vim.defer_fn), so typeahead, LSP replies and timers all run.
local drive = dofile(vim.fs.joinpath(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)), 'nvim_driver.lua'))
local result, typed, finish, wait_for, feed = drive.result, drive.typed, drive.finish, drive.wait_for, drive.feed
local ns = vim.api.nvim_create_namespace('nvim.lsp.inline_completion')
local plugin = require('codegen_lsp')

local function ghost_text()
  local marks = vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })
  for _, mark in ipairs(marks) do
    local chunks = mark[4].virt_text
    if chunks and chunks[1] and chunks[1][1] ~= '' then
      return table.concat(vim.tbl_map(function(c) return c[1] end, chunks))
    end
  end
end

local function current_line() return vim.api.nvim_get_current_line() end

local function stats()
  local response = plugin.clients(0)[1]:request_sync('codegen/stats', vim.NIL, 2000)
  return response and response.result
end

local function acceptance() return (stats() or {}).acceptance end

wait_for('ready', 60000, drive.server_state, function(state)
  result.state = state
  if state ~= 'ready' then return finish(false, 'model failed to load') end
  local file_win = vim.api.nvim_get_current_win()
  vim.cmd('checkhealth codegen_lsp')
  local health_buf = vim.api.nvim_get_current_buf()
  result.health = table.concat(vim.api.nvim_buf_get_lines(health_buf, 0, -1, false), '\n')
  vim.api.nvim_buf_delete(health_buf, { force = true })
  vim.api.nvim_set_current_win(file_win)
  feed('GA' .. typed)
  wait_for('ghost text', 30000, ghost_text, function(ghost)
    result.ghost = ghost
    result.line_with_ghost = current_line()
    if os.getenv('CODEGEN_TEST_STOP_AT_GHOST') then -- leave the ghost text on screen for a screenshot
      vim.cmd('redraw')
      result.ok = true
      return drive.write()
    end
    feed('<Tab>')
    wait_for('accepted', 5000, function() return current_line() ~= result.line_with_ghost and current_line() end,
      function(line)
        result.line_after = line
        result.ghost_after_accept = ghost_text() or ''
        result.acceptance_after_tab = acceptance()
        -- A fresh line, before any suggestion can arrive: Tab must keep its normal meaning (indent).
        local accepted_row = vim.fn.line('.')
        feed('<Esc>o<Tab>')
        wait_for('tab fallback', 5000, function() return vim.fn.line('.') == accepted_row + 1 and current_line() end,
          function(indent)
            result.fallback_line = indent
            feed('x = ')
            wait_for('second ghost text', 30000, ghost_text, function(second)
              -- The accept-word key takes the suggestion's first word; the server counts a partial accept.
              result.second_ghost = second
              result.acceptance_at_second_ghost = acceptance()
              result.line_before_word = current_line()
              feed('<M-Right>')
              wait_for('word accepted', 5000,
                function() return current_line() ~= result.line_before_word and current_line() end, function(line)
                result.line_after_word = line
                wait_for('partial accept counted', 5000, function()
                  local a = acceptance()
                  return a and a.partially_accepted >= 1 and a
                end, function(counted)
                  result.acceptance = counted
                  result.health_after = require('codegen_lsp.health').usage(stats())
                  wait_for('rest of the suggestion', 30000, ghost_text, function()
                    result.line_before_dismiss = current_line()
                    feed('<C-]>')
                    wait_for('dismissed', 5000, function() return ghost_text() == nil end, function()
                      result.line_after_dismiss = current_line()
                      result.statusline = plugin.statusline()
                      vim.cmd('CodegenLspToggle')
                      wait_for('toggled off', 5000, function()
                        local client = plugin.clients(0)[1]
                        local response = client:request_sync('codegen/stats', vim.NIL, 2000)
                        return response and response.result and response.result.state == 'disabled'
                      end, function()
                        result.statusline_off = plugin.statusline()
                        finish(true)
                      end)
                    end)
                  end)
                end)
              end)
            end)
          end)
      end)
  end)
end)

-- Drives Neovim 0.12 with the user's own insert-mode mappings of <Tab> (a Lua expr callback) and <C-]> (a
-- Vimscript rhs), made before the plugin's setup: with ghost text Tab accepts it; with none, Tab and <C-]> do
-- what the user mapped; a buffer the server is not attached to keeps the user's mappings untouched. The result
-- is JSON in $CODEGEN_TEST_RESULT.
local drive = dofile(vim.fs.joinpath(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)), 'nvim_driver.lua'))
local result, finish, wait_for, feed = drive.result, drive.finish, drive.wait_for, drive.feed
local ns = vim.api.nvim_create_namespace('nvim.lsp.inline_completion')

local function ghost()
  return #vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { limit = 1 }) > 0 or nil
end

local function line() return vim.api.nvim_get_current_line() end

wait_for('ready', 60000, drive.server_state, function(state)
  if state ~= 'ready' then return finish(false, 'model failed to load') end
  result.tab_desc_attached = vim.fn.maparg('<Tab>', 'i', false, true).desc
  feed('GA')
  wait_for('ghost text', 30000, ghost, function()
    result.line_with_ghost = line()
    feed('<Tab>')
    wait_for('accepted', 5000, function() return line() ~= result.line_with_ghost and line() end, function(accepted)
      result.line_after_tab = accepted
      result.user_tabs_after_accept = vim.g.user_tabs or 0
      -- A fresh line, before any suggestion can arrive: both keys go to the user's mappings.
      feed('<Esc>o<Tab><C-]>')
      wait_for('user mappings', 5000, function() return (vim.g.user_tabs or 0) >= 1 and line():find('USER') and line() end,
        function(fallback)
          result.user_tabs = vim.g.user_tabs
          result.fallback_line = fallback
          vim.cmd('stopinsert | enew | setfiletype text')
          result.tab_desc_elsewhere = vim.fn.maparg('<Tab>', 'i', false, true).desc
          result.dismiss_rhs_elsewhere = vim.fn.maparg('<C-]>', 'i')
          finish(true)
        end)
    end)
  end)
end)

-- Neovim 0.11 has no inline completion: the plugin offers the server's completion in the completion menu.
-- Types in insert mode, opens the menu with the plugin's <C-Space> key, accepts with <C-y>, and writes what it
-- saw as JSON to $CODEGEN_TEST_RESULT.
local drive = dofile(vim.fs.joinpath(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)), 'nvim_driver.lua'))
local result, typed, finish, wait_for, feed = drive.result, drive.typed, drive.finish, drive.wait_for, drive.feed
local plugin = require('codegen_lsp')

wait_for('ready', 60000, drive.server_state, function(state)
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

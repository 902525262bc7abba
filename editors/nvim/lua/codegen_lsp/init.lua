-- codegen-lsp for Neovim: starts the server through vim.lsp.config/vim.lsp.enable and shows its completions as
-- ghost text (vim.lsp.inline_completion, Neovim 0.12+) or in the completion menu (vim.lsp.completion, 0.11).
local M = {}

M.name = 'codegen_lsp'

M.defaults = {
  -- The server's command line.
  cmd = { 'codegen-lsp', '--stdio' },
  -- Sent to the server as initializationOptions (camelCase or snake_case keys: model, device, dtype,
  -- maxNewTokens, enabled, ...) and again on :CodegenLspToggle.
  settings = {},
  -- The languages CodeGen was trained on; add more freely.
  filetypes = { 'python', 'c', 'cpp', 'go', 'java', 'javascript', 'javascriptreact', 'typescript',
    'typescriptreact', 'rust', 'php', 'ruby', 'sh', 'lua' },
  root_markers = { '.git', 'pyproject.toml', 'setup.py', 'package.json', 'go.mod', 'Cargo.toml' },
  -- 'auto': ghost text where Neovim has it (0.12+), the completion menu otherwise; or 'inline' / 'classic'.
  completion = 'auto',
  -- Classic mode, set for the attached buffers: a single long suggestion still shows in the menu (with its
  -- code in the popup) and is inserted only on <C-y>. nil keeps your own 'completeopt'.
  completeopt = 'menuone,noinsert,popup',
  keys = {
    -- Mapped in the buffers the server attaches to. Each key does its work while a suggestion shows and otherwise
    -- what it did before (your mapping or another plugin's, else the key itself); false leaves a key alone.
    accept = '<Tab>', -- accepts the ghost text
    accept_word = '<M-Right>', -- accepts its next word (the rest stays on screen), as VS Code's Ctrl+Right
    accept_line = '<M-C-Right>', -- accepts the rest of its current line
    dismiss = '<C-]>',
    next = '<M-]>',
    prev = '<M-[>',
    complete = '<C-Space>', -- classic mode: ask for the completion menu
  },
}

M.config = vim.deepcopy(M.defaults)
-- Last `codegen/status` notification per client id: { state, model, engine, error }.
M.status = {}

local function has_inline()
  return vim.lsp.inline_completion ~= nil and vim.fn.has('nvim-0.12') == 1
end

--- The completion UI this setup uses: 'inline' or 'classic'.
function M.mode()
  if M.config.completion == 'auto' then
    return has_inline() and 'inline' or 'classic'
  end
  if M.config.completion == 'inline' and not has_inline() then
    return 'classic'
  end
  return M.config.completion
end

function M.clients(bufnr)
  return vim.lsp.get_clients({ name = M.name, bufnr = bufnr })
end

local DID_SHOW = 'textDocument/didShowCompletion'
local DID_PARTIALLY_ACCEPT = 'textDocument/didPartiallyAcceptCompletion'

--- The start of `text` that accept-word ('word') or accept-line ('line') takes: a word is the whitespace before it
--- and a run of word characters (or of other non-blank ones); a line is the rest of the current line, or, when
--- the text starts with a line break, that break and the next line.
function M.next_part(text, kind)
  if kind == 'line' then
    local first = text:find('\n', 1, true)
    if not first then return text end
    if first > 1 then return text:sub(1, first - 1) end
    local second = text:find('\n', 2, true)
    return second and text:sub(1, second - 1) or text
  end
  return text:match('^%s*[%w_]+') or text:match('^%s*[^%s%w_]+') or text
end

local CLOSING = { [')'] = true, [']'] = true, ['}'] = true }
local OPENING = { ['('] = true, ['['] = true, ['{'] = true }

--- How many of `closers` (the text a replacing item's range covers, after the cursor) a part of its text writes,
--- in order: the closing brackets it has not opened itself, the quotes that close no string of its own.
function M.closers_passed(part, closers)
  local passed, depth, quote = 0, 0, nil
  for ch in part:gmatch('.') do
    local wanted = closers:sub(passed + 1, passed + 1)
    if quote then
      if ch == quote then quote = nil end
    elseif ch == wanted and depth == 0 and (CLOSING[ch] or ch == '"' or ch == "'" or ch == '`') then
      passed = passed + 1
    elseif ch == '"' or ch == "'" or ch == '`' then
      quote = ch
    elseif OPENING[ch] then
      depth = depth + 1
    elseif CLOSING[ch] then
      depth = depth - 1
    end
  end
  return passed
end

--- Takes the next word or line of the suggestion through the built-in client's accept hook (on_accept): the part
--- goes in at the item's start (over the closers of a replacing item that it writes), without the item's command
--- (that one means "accepted whole"), and the server is told how much was taken. Taking all that is left is a
--- plain accept. False when no suggestion shows.
function M.accept_part(kind)
  return vim.lsp.inline_completion.get({
    on_accept = function(item)
      local text = item.insert_text
      if type(text) ~= 'string' or not item.range then
        return item
      end
      local part = M.next_part(text, kind)
      if #part >= #text then
        return item
      end
      local client = vim.lsp.get_client_by_id(item.client_id)
      vim.schedule(function() -- after the part is in the buffer (notify sends the pending didChange first)
        if client and item.command then
          client:notify(DID_PARTIALLY_ACCEPT, {
            item = { insertText = text, command = item.command },
            acceptedLength = vim.str_utfindex(part, 'utf-16'),
          })
        end
      end)
      local r = item.range
      local closers = r.start_row == r.end_row
          and table.concat(vim.api.nvim_buf_get_text(r.buf, r.start_row, r.start_col, r.end_row, r.end_col, {}))
        or ''
      local passed = M.closers_passed(part, closers) -- `r) -> float:` of an item over `)` takes that `)` with it
      return {
        client_id = item.client_id,
        insert_text = part,
        range = vim.range(r.buf, r.start_row, r.start_col, r.start_row, r.start_col + #closers:sub(1, passed)),
      }
    end,
  })
end

--- Whether ghost text is drawn in `buf`: an extmark in any namespace whose virtual text has the ComplHint
--- highlight (`:h hl-ComplHint`, what Neovim draws inline completions with).
local function ghost_text_shown(buf)
  local function hinted(chunks)
    for _, chunk in ipairs(chunks or {}) do
      local hl = chunk[2]
      if hl == 'ComplHint' or (type(hl) == 'table' and vim.list_contains(hl, 'ComplHint')) then return true end
    end
    return false
  end
  for _, mark in ipairs(vim.api.nvim_buf_get_extmarks(buf, -1, 0, -1, { details = true })) do
    local details = mark[4]
    if hinted(details.virt_text) or vim.iter(details.virt_lines or {}):any(hinted) then return true end
  end
  return false
end

--- Neovim has no "shown" event: report the first item of an answer when, right after the built-in handler ran,
--- its ghost text is on screen. The handler is reached by wrapping this client's own request function.
local function report_shown(client)
  if client._codegen_reports_shown then return end
  client._codegen_reports_shown = true
  local request = client.request
  client.request = function(self, method, params, handler, bufnr)
    if method == 'textDocument/inlineCompletion' and type(handler) == 'function' then
      local inner = handler
      handler = function(err, result, ctx, ...)
        inner(err, result, ctx, ...)
        local items = type(result) == 'table' and (result.items or result) or nil
        local buf = ctx and ctx.bufnr or bufnr
        if not err and items and items[1] and items[1].command and buf and vim.api.nvim_buf_is_valid(buf)
            and ghost_text_shown(buf) then
          self:notify(DID_SHOW, { item = items[1] })
        end
      end
    end
    return request(self, method, params, handler, bufnr)
  end
end

local DESC = 'codegen-lsp: '

--- What `key` did in insert mode in `bufnr` before this plugin mapped it there: the mapping of the user or another
--- plugin (for the buffer, else global), or the key's own meaning. Runs it; called from a non-expr mapping, so
--- that a callback may change the buffer.
local function previous_meaning(key, bufnr)
  local old = vim.api.nvim_buf_call(bufnr, function() return vim.fn.maparg(key, 'i', false, true) end)
  if vim.tbl_isempty(old) then
    return function() vim.api.nvim_feedkeys(vim.keycode(key), 'in', false) end
  end
  return function()
    local keys
    if old.callback then
      keys = old.callback()
      if old.expr ~= 1 then return end
      if old.replace_keycodes == 1 then keys = vim.keycode(keys or '') end
    elseif old.expr == 1 then
      keys = vim.api.nvim_eval(old.rhs)
    else
      keys = vim.keycode(old.rhs)
    end
    vim.api.nvim_feedkeys(keys or '', old.noremap == 1 and 'in' or 'im', false)
  end
end

--- Map `key` in insert mode for `bufnr` to `action`; when `action` returns false (no suggestion showed), the key
--- does what it did before (see previous_meaning). A buffer already mapped by this plugin keeps its mapping.
local function map_with_fallback(bufnr, key, action, desc)
  local current = vim.api.nvim_buf_call(bufnr, function() return vim.fn.maparg(key, 'i', false, true) end)
  if current.buffer == 1 and vim.startswith(current.desc or '', DESC) then return end
  local fallback = previous_meaning(key, bufnr)
  vim.keymap.set('i', key, function()
    if not action() then fallback() end
  end, { buffer = bufnr, desc = DESC .. desc })
end

--- The ghost-text keys, for the buffer the server attached to: each does its work when a suggestion shows and
--- otherwise what it did before (a mapping of yours or another plugin's, or the key itself). false turns a key off.
local function map_keys(keys, bufnr)
  if keys.accept then
    map_with_fallback(bufnr, keys.accept, vim.lsp.inline_completion.get, 'accept the suggestion')
  end
  for kind, key in pairs({ word = keys.accept_word, line = keys.accept_line }) do
    if key then
      map_with_fallback(bufnr, key, function() return M.accept_part(kind) end,
        ('accept the next %s of the suggestion'):format(kind))
    end
  end
  if keys.dismiss then
    -- get() with an on_accept that returns nil clears the suggestion and inserts nothing.
    map_with_fallback(bufnr, keys.dismiss,
      function() return vim.lsp.inline_completion.get({ on_accept = function() return nil end }) end,
      'dismiss the suggestion')
  end
  if keys.next then
    vim.keymap.set('i', keys.next, function() vim.lsp.inline_completion.select({ count = 1 }) end,
      { buffer = bufnr, desc = DESC .. 'next suggestion' })
  end
  if keys.prev then
    vim.keymap.set('i', keys.prev, function() vim.lsp.inline_completion.select({ count = -1 }) end,
      { buffer = bufnr, desc = DESC .. 'previous suggestion' })
  end
end

local function on_attach(client, bufnr)
  if M.mode() == 'inline' then
    vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
    report_shown(client)
    map_keys(M.config.keys or {}, bufnr)
    return
  end
  -- The server has no trigger characters: the menu opens on keys.complete (or <C-x><C-o>).
  vim.lsp.completion.enable(true, client.id, bufnr, { autotrigger = true })
  if M.config.completeopt then
    vim.bo[bufnr].completeopt = M.config.completeopt
  end
  local key = (M.config.keys or {}).complete
  if key then
    vim.keymap.set('i', key, vim.lsp.completion.get, { buffer = bufnr, desc = DESC .. 'complete' })
  end
end

local function on_status(_, result, ctx)
  M.status[ctx.client_id] = result
  if type(result) == 'table' and result.state == 'failed' then
    vim.notify(('codegen-lsp: %s'):format(result.error or 'the model failed to load'), vim.log.levels.ERROR)
  end
end

--- `require('codegen_lsp').setup({ cmd = {...}, settings = {...} })`
function M.setup(opts)
  if vim.fn.has('nvim-0.11') ~= 1 then
    vim.notify('codegen-lsp needs Neovim 0.11 or newer', vim.log.levels.ERROR)
    return
  end
  M.config = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts or {})
  if opts and opts.filetypes then
    M.config.filetypes = opts.filetypes -- a list replaces the default list instead of merging into it
  end
  vim.lsp.config(M.name, {
    cmd = M.config.cmd,
    filetypes = M.config.filetypes,
    root_markers = M.config.root_markers,
    init_options = M.config.settings,
    handlers = { ['codegen/status'] = on_status },
    on_attach = on_attach,
  })
  vim.lsp.enable(M.name)
  vim.api.nvim_create_user_command('CodegenLspToggle', function() M.toggle() end,
    { desc = 'codegen-lsp: turn completions off or on' })
  vim.api.nvim_create_user_command('CodegenLspRestart', function() M.restart() end,
    { desc = 'codegen-lsp: restart the server' })
end

--- Turns the server's completions off or on (it keeps the model loaded) and says which.
function M.toggle()
  local settings = M.config.settings
  settings.enabled = settings.enabled == false
  for _, client in ipairs(M.clients()) do
    client:notify('workspace/didChangeConfiguration', { settings = settings })
  end
  vim.notify(('codegen-lsp completions %s'):format(settings.enabled and 'on' or 'off'))
end

function M.restart()
  local clients = M.clients()
  for _, client in ipairs(clients) do
    client:stop()
  end
  vim.defer_fn(function()
    vim.lsp.enable(M.name, false)
    vim.lsp.enable(M.name)
  end, 500)
end

--- The server's state for a statusline: "codegen: ready", "codegen: loading" ...
function M.statusline()
  for _, client in ipairs(M.clients(0)) do
    local status = M.status[client.id]
    if status then
      return 'codegen: ' .. status.state
    end
  end
  return ''
end

return M

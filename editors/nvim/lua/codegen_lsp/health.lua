-- :checkhealth codegen_lsp — is the server command there, is the server running, is its model loaded?
local M = {}

function M.check()
  local health = vim.health
  local plugin = require('codegen_lsp')
  health.start('codegen-lsp')

  if vim.fn.has('nvim-0.11') == 1 then
    health.ok(('Neovim %s'):format(tostring(vim.version())))
  else
    health.error('Neovim 0.11 or newer is needed (vim.lsp.config, vim.lsp.enable)')
  end
  health.info(('completion UI: %s'):format(plugin.mode() == 'inline'
    and 'ghost text (vim.lsp.inline_completion)' or 'completion menu (vim.lsp.completion)'))

  local cmd = plugin.config.cmd
  local exe = type(cmd) == 'table' and cmd[1] or nil
  if exe and vim.fn.executable(exe) == 1 then
    health.ok(('server command found: %s'):format(vim.fn.exepath(exe)))
    health.info(('outside Neovim, `%s check --model <model>` loads the model and says whether it works here, and how fast'):format(exe))
  else
    health.error(('server command not found: %s'):format(tostring(exe)),
      { 'install it (the README\'s Install section), or pass cmd = { "/path/to/.venv/bin/codegen-lsp", "--stdio" } to setup()' })
  end

  local clients = plugin.clients()
  if #clients == 0 then
    health.warn('no codegen-lsp server is running', { 'open a file of one of: ' .. table.concat(plugin.config.filetypes, ', ') })
    return
  end
  for _, client in ipairs(clients) do
    local response = client:request_sync('codegen/stats', vim.NIL, 5000)
    local stats = response and response.result
    if not stats then
      local why = response and response.err and response.err.message or 'no answer within 5 s'
      health.error(('server %d did not answer codegen/stats: %s'):format(client.id, why))
    elseif stats.state == 'ready' then
      health.ok(('model loaded: %s (engine %s)'):format(stats.model, tostring(stats.engine)))
      if type(stats.runtime) == 'table' and next(stats.runtime) then
        health.info('runs on: ' .. M.runtime(stats.runtime))
      end
      health.info(M.usage(stats))
    elseif stats.state == 'loading' then
      health.warn(('model still loading: %s'):format(stats.model))
    elseif stats.state == 'disabled' then
      health.warn(('completions are turned off (:CodegenLspToggle); model %s'):format(stats.model))
    else
      health.error(('model failed to load: %s'):format(tostring(stats.error or stats.model)),
        { ('`%s check --model %s` in a terminal prints one line per problem'):format(tostring(exe), tostring(stats.model)) })
    end
  end
end

--- One line of what the server has done so far (its local counters, from codegen/stats).
function M.usage(stats)
  local p50 = type(stats.latency_ms) == 'table' and stats.latency_ms.p50
  local line = ('%d requests, %d answered by the model, %d typed-through; answer p50 %s'):format(
    stats.requests or 0, stats.model_calls or 0, stats.typed_through_hits or 0,
    type(p50) == 'number' and ('%.0f ms'):format(p50) or 'n/a')
  if (stats.tokens_drafted or 0) > 0 then
    line = line .. ('; speculative decoding: %d of %d drafted tokens accepted'):format(
      stats.tokens_accepted, stats.tokens_drafted)
  end
  if type(stats.acceptance) == 'table' then
    line = line .. '; ' .. M.acceptance(stats.acceptance)
  end
  return line
end

--- What the engine runs on (codegen/stats "runtime": device, dtype, threads ...), by name: 'device cpu, threads 1'.
function M.runtime(runtime)
  local names = vim.tbl_keys(runtime)
  table.sort(names)
  local parts = {}
  for _, name in ipairs(names) do
    parts[#parts + 1] = ('%s %s'):format(name, tostring(runtime[name]))
  end
  return table.concat(parts, ', ')
end

local function percent(rate)
  return type(rate) == 'number' and ('%d%%'):format(math.floor(rate * 100 + 0.5)) or 'n/a'
end

--- What the user did with the suggestions (the same wording as VS Code's "Show statistics").
function M.acceptance(a)
  local line = ('suggestions: %d shown, %d accepted (%s), %d in part; characters kept after 30 s %s, after 2 min %s'):format(
    a.shown or 0, a.accepted or 0, percent(a.accept_rate), a.partially_accepted or 0,
    percent(a.kept_rate_30s), percent(a.kept_rate_120s))
  if type(a.saved) == 'table' and type(a.saved.days) == 'table' and #a.saved.days > 0 then -- persistStats
    line = line .. ('; saved, last %d days: %s'):format(#a.saved.days, M.acceptance(vim.tbl_extend('force', a.saved, { saved = false })))
  end
  return line
end

return M

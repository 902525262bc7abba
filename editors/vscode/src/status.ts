// What the status bar says for each server state. Pure, so the wording can be tested without VS Code.

// The `codegen/status` notification the server sends (see codegen_lsp/completion.py: Completer.status).
export interface ServerStatus {
  state: 'loading' | 'ready' | 'failed' | 'disabled' | string;
  model?: string;
  engine?: string | null;
  error?: string | null;
}

// Where the extension stands: the server's own status, or a state the server cannot report itself.
export type View =
  | { kind: 'starting' }
  | { kind: 'stopped'; reason: string }
  | { kind: 'server'; status: ServerStatus; progress?: { percentage?: number; message?: string } };

export interface StatusBarLook {
  text: string;
  tooltip: string;
  error: boolean;
  command: 'codegenLsp.toggle' | 'codegenLsp.showOutput';
}

// The counters `codegen/stats` answers with (the ones the summary reads).
export interface ServerStats {
  requests?: number;
  model_calls?: number;
  typed_through_hits?: number;
  latency_ms?: { p50?: number | null };
  tokens_drafted?: number;
  tokens_accepted?: number;
  acceptance?: AcceptanceStats;
}

// What the user did with the suggestions (codegen_lsp/acceptance.py): counts, and rates that are null until known.
export interface AcceptanceStats {
  shown?: number;
  accepted?: number;
  partially_accepted?: number;
  accept_rate?: number | null;
  kept_rate_30s?: number | null;
  kept_rate_120s?: number | null;
  saved?: AcceptanceStats & { days?: string[] }; // with persistStats: the last saved days together
}

function percent(rate: number | null | undefined): string {
  return typeof rate === 'number' ? `${Math.round(rate * 100)}%` : 'n/a';
}

// The acceptance part of the summary (the same wording as Neovim's :checkhealth).
export function acceptanceSummary(a: AcceptanceStats): string {
  const line = `suggestions: ${a.shown ?? 0} shown, ${a.accepted ?? 0} accepted (${percent(a.accept_rate)}), ` +
    `${a.partially_accepted ?? 0} in part; characters kept after 30 s ${percent(a.kept_rate_30s)}, ` +
    `after 2 min ${percent(a.kept_rate_120s)}`;
  const days = a.saved?.days?.length;
  return a.saved && days ? `${line}; saved, last ${days} days: ${acceptanceSummary({ ...a.saved, saved: undefined })}` : line;
}

// One line of what the server has done so far (the same wording as Neovim's :checkhealth).
export function usageSummary(stats: ServerStats): string {
  const p50 = stats.latency_ms?.p50;
  let line = `${stats.requests ?? 0} requests, ${stats.model_calls ?? 0} answered by the model, ` +
    `${stats.typed_through_hits ?? 0} typed-through; answer p50 ${typeof p50 === 'number' ? `${Math.round(p50)} ms` : 'n/a'}`;
  if ((stats.tokens_drafted ?? 0) > 0) {
    line += `; speculative decoding: ${stats.tokens_accepted ?? 0} of ${stats.tokens_drafted} drafted tokens accepted`;
  }
  if (stats.acceptance) {
    line += `; ${acceptanceSummary(stats.acceptance)}`;
  }
  return line;
}

export function statusBarLook(view: View): StatusBarLook {
  if (view.kind === 'starting') {
    return { text: '$(sync~spin) CodeGen', tooltip: 'codegen-lsp: starting the server', error: false, command: 'codegenLsp.showOutput' };
  }
  if (view.kind === 'stopped') {
    return { text: '$(error) CodeGen', tooltip: `codegen-lsp: ${view.reason}`, error: true, command: 'codegenLsp.showOutput' };
  }
  const { status, progress } = view;
  const model = status.model ?? 'the model';
  switch (status.state) {
    case 'idle': // started, not yet loading
    case 'loading': {
      const percent = progress?.percentage !== undefined ? ` ${Math.round(progress.percentage)}%` : '';
      const detail = progress?.message ? `: ${progress.message}` : '';
      return { text: `$(sync~spin) CodeGen${percent}`, tooltip: `codegen-lsp: loading ${model}${detail}`, error: false, command: 'codegenLsp.showOutput' };
    }
    case 'ready':
      return {
        text: '$(check) CodeGen',
        tooltip: `codegen-lsp: ${model} ready (engine ${status.engine ?? '?'}); click to turn completions off`,
        error: false,
        command: 'codegenLsp.toggle',
      };
    case 'disabled':
      return { text: '$(circle-slash) CodeGen', tooltip: 'codegen-lsp: completions are off; click to turn them on', error: false, command: 'codegenLsp.toggle' };
    default:
      return {
        text: '$(error) CodeGen',
        tooltip: `codegen-lsp: ${model} failed to load: ${status.error ?? 'unknown error'}`,
        error: true,
        command: 'codegenLsp.showOutput',
      };
  }
}

// codegen-lsp for VS Code: starts the server over stdio, passes the settings to it, and shows its state in the
// status bar. Ghost text itself comes from vscode-languageclient's built-in textDocument/inlineCompletion support;
// the middleware below tells the server which suggestion is shown, and the accept-next-word/line commands how much
// of it was taken (Tab runs the item's own command, which the language client sends as workspace/executeCommand).
import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  TransportKind,
  WorkDoneProgress,
  WorkDoneProgressCreateRequest,
} from 'vscode-languageclient/node';
import { DID_PARTIALLY_ACCEPT, DID_SHOW, ReportedItem, acceptedLength, reportedItem } from './acceptance';
import { LEGACY_ENABLE, RESTART_KEYS, serverCommand, serverSettings } from './config';
import { ServerStats, ServerStatus, View, statusBarLook, usageSummary } from './status';

const SECTION = 'codegenLsp';

let client: LanguageClient | undefined;
let statusBar: vscode.StatusBarItem;
let output: vscode.LogOutputChannel;
let lastStatus: ServerStatus | undefined;
// The suggestion last handed to VS Code for display: where it starts and how much of it was reported taken.
let lastShown: { uri: string; start: vscode.Position; item: ReportedItem; reported: number } | undefined;

function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(SECTION);
}

function show(view: View): void {
  const look = statusBarLook(view);
  statusBar.text = look.text;
  statusBar.tooltip = look.tooltip;
  statusBar.command = look.command;
  statusBar.backgroundColor = look.error ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  statusBar.show();
}

function createClient(): LanguageClient {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const { command, args } = serverCommand(config(), folder);
  const serverOptions: ServerOptions = { command, args, transport: TransportKind.stdio, options: { cwd: folder } };
  const languages = config().get<string[]>('languages', []);
  const clientOptions: LanguageClientOptions = {
    documentSelector: languages.flatMap((language) => [
      { scheme: 'file', language },
      { scheme: 'untitled', language },
    ]),
    initializationOptions: serverSettings(config()),
    outputChannel: output,
    middleware: {
      // VS Code's stable API has no "shown" event (handleDidShowCompletionItem is a proposed API): the first item of
      // an answer that arrives for the unchanged document is the one VS Code puts on screen.
      provideInlineCompletionItems: async (document, position, context, token, next) => {
        const version = document.version;
        const result = await next(document, position, context, token);
        const items = Array.isArray(result) ? result : result?.items;
        const first = items?.[0];
        const item = first && reportedItem(first);
        if (item && !token.isCancellationRequested && document.version === version) {
          lastShown = { uri: document.uri.toString(), start: first.range?.start ?? position, item, reported: 0 };
          void client?.sendNotification(DID_SHOW, { item });
        }
        return result;
      },
    },
  };
  const created = new LanguageClient('codegenLsp', 'codegen-lsp', serverOptions, clientOptions);
  created.onDidChangeState((event) => {
    if (event.newState === State.Stopped) {
      show({ kind: 'stopped', reason: 'the server stopped; see its output (codegen-lsp: Show server output)' });
    }
  });
  return created;
}

// The server announces its loading progress (and the workspace index's, which may come after the model is
// ready) with $/progress: show it in our status bar item, and the server's last status again when it ends.
function followLoadingProgress(running: LanguageClient): void {
  running.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => {
    const disposable = running.onProgress(WorkDoneProgress.type, token, (value) => {
      if (value.kind === 'end') {
        disposable.dispose();
        if (lastStatus) {
          show({ kind: 'server', status: lastStatus });
        }
        return;
      }
      show({
        kind: 'server',
        status: { ...(lastStatus ?? { model: config().get<string>('model') }), state: 'loading' },
        progress: { percentage: value.percentage, message: value.message },
      });
    });
  });
}

async function start(): Promise<void> {
  show({ kind: 'starting' });
  lastStatus = undefined;
  const starting = createClient();
  starting.onNotification('codegen/status', (status: ServerStatus) => {
    lastStatus = status;
    show({ kind: 'server', status });
  });
  client = starting;
  try {
    await starting.start();
    followLoadingProgress(starting);
  } catch (err) {
    const { command } = serverCommand(config());
    const reason = `could not start ${command}: ${err instanceof Error ? err.message : String(err)}`;
    show({ kind: 'stopped', reason });
    const choice = await vscode.window.showErrorMessage(`codegen-lsp ${reason}`, 'Open Settings');
    if (choice === 'Open Settings') {
      void vscode.commands.executeCommand('workbench.action.openSettings', `${SECTION}.serverPath`);
    }
  }
}

async function stop(): Promise<void> {
  const stopping = client;
  client = undefined;
  if (stopping && stopping.state !== State.Stopped) {
    await stopping.stop().catch((err) => output.appendLine(`stopping the server failed: ${err}`));
  }
}

async function restart(): Promise<void> {
  await stop();
  await start();
}

async function onConfigurationChanged(event: vscode.ConfigurationChangeEvent): Promise<void> {
  if (!event.affectsConfiguration(SECTION)) {
    return;
  }
  if (RESTART_KEYS.some((key) => event.affectsConfiguration(`${SECTION}.${key}`))) {
    await restart();
  } else if (client?.state === State.Running) {
    await client.sendNotification(DidChangeConfigurationNotification.type, { settings: serverSettings(config()) });
  }
}

// Outside the editor, `codegen-lsp check` loads the model and prints one line per problem it finds.
const CHECK_HINT = 'in a terminal, `codegen-lsp check --model <model>` says whether the model works here, and how fast';

async function showStats(): Promise<void> {
  if (client?.state !== State.Running) {
    void vscode.window.showWarningMessage(`codegen-lsp: the server is not running; ${CHECK_HINT}`);
    return;
  }
  const stats = await client.sendRequest<ServerStats & { state?: string; error?: string | null }>('codegen/stats');
  if (stats.state === 'failed') {
    void vscode.window.showErrorMessage(`codegen-lsp: the model did not load (${stats.error ?? 'see the server output'}); ${CHECK_HINT}`);
    return;
  }
  void vscode.window.showInformationMessage(`codegen-lsp: ${usageSummary(stats)}`);
}

// VS Code's own accept-next-word/line, then a partial-accept report of how much of the shown item is now in the file.
async function acceptPart(command: string): Promise<void> {
  const shown = lastShown;
  const editor = vscode.window.activeTextEditor;
  await vscode.commands.executeCommand(command);
  if (!shown || !editor || editor.document.uri.toString() !== shown.uri || client?.state !== State.Running) {
    return;
  }
  const document = editor.document;
  const start = document.offsetAt(shown.start);
  const taken = acceptedLength(document.getText().slice(start, start + shown.item.insertText.length), shown.item.insertText);
  if (taken > shown.reported) {
    shown.reported = taken;
    await client.sendNotification(DID_PARTIALLY_ACCEPT, { item: shown.item, acceptedLength: taken });
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel('codegen-lsp', { log: true });
  statusBar = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  statusBar.name = 'codegen-lsp';
  context.subscriptions.push(
    output,
    statusBar,
    vscode.commands.registerCommand('codegenLsp.toggle', async () => {
      const enabled = serverSettings(config()).enabled === true;
      await config().update(LEGACY_ENABLE, undefined, vscode.ConfigurationTarget.Global);
      await config().update('enabled', !enabled, vscode.ConfigurationTarget.Global);
      vscode.window.setStatusBarMessage(`codegen-lsp completions ${enabled ? 'off' : 'on'}`, 3000);
    }),
    vscode.commands.registerCommand('codegenLsp.restart', restart),
    vscode.commands.registerCommand('codegenLsp.showOutput', () => output.show(true)),
    vscode.commands.registerCommand('codegenLsp.showStats', showStats),
    vscode.commands.registerCommand('codegenLsp.acceptNextWord', () => acceptPart('editor.action.inlineSuggest.acceptNextWord')),
    vscode.commands.registerCommand('codegenLsp.acceptNextLine', () => acceptPart('editor.action.inlineSuggest.acceptNextLine')),
    vscode.workspace.onDidChangeConfiguration(onConfigurationChanged),
  );
  await start();
}

export async function deactivate(): Promise<void> {
  await stop();
}

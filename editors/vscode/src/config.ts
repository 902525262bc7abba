// What the extension's settings mean for the server: pure functions over a settings reader, so they can be
// tested without VS Code.
import * as path from 'path';
import { SERVER_SETTINGS } from './serverSettings';

export interface SettingsReader {
  get<T>(key: string, fallback: T): T;
}

// Settings that change how the server is started: a change to one of these restarts it.
export const RESTART_KEYS = ['serverPath', 'serverArgs', 'languages'];

// The server's own settings (sent as initializationOptions and in workspace/didChangeConfiguration): every
// setting the extension exposes (SERVER_SETTINGS, generated from the server's schema). Empty strings are left out
// so that the server keeps its defaults. `enable`, the switch's old name, still turns completions off.
export function serverSettings(config: SettingsReader): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  for (const { key, fallback } of SERVER_SETTINGS) {
    const value = config.get<unknown>(key, fallback);
    if (typeof value !== 'string') {
      settings[key] = value;
    } else if (value.trim()) {
      settings[key] = value.trim();
    }
  }
  settings.enabled = settings.enabled !== false && config.get<boolean>(LEGACY_ENABLE, true) !== false;
  return settings;
}

// The old name of `enabled`; the toggle command clears it so that `enabled` alone decides from then on.
export const LEGACY_ENABLE = 'enable';

// The server command: a bare name is looked up on PATH; a relative path is taken from the workspace folder.
export function serverCommand(config: SettingsReader, workspaceFolder?: string): { command: string; args: string[] } {
  let command = config.get<string>('serverPath', 'codegen-lsp').trim() || 'codegen-lsp';
  if (workspaceFolder && command.includes('/') && !path.isAbsolute(command)) {
    command = path.join(workspaceFolder, command);
  }
  return { command, args: config.get<string[]>('serverArgs', ['--stdio']) };
}

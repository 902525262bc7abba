// What the extension's settings mean for the server: pure functions over a settings reader, so they can be
// tested without VS Code.
import * as path from 'path';

export interface SettingsReader {
  get<T>(key: string, fallback: T): T;
}

// Settings that change how the server is started: a change to one of these restarts it.
export const RESTART_KEYS = ['serverPath', 'serverArgs', 'languages'];

// The server's own settings (sent as initializationOptions and in workspace/didChangeConfiguration).
// Empty strings are left out so that the server keeps its defaults.
export function serverSettings(config: SettingsReader): Record<string, unknown> {
  const settings: Record<string, unknown> = {
    enabled: config.get<boolean>('enable', true),
    device: config.get<string>('device', 'auto'),
    dtype: config.get<string>('dtype', 'auto'),
    engine: config.get<string>('engine', 'auto'),
    maxNewTokens: config.get<number>('maxNewTokens', 64),
    temperature: config.get<number>('temperature', 0),
    draftTokens: config.get<number>('draftTokens', 4),
    persistStats: config.get<boolean>('persistStats', false),
    quantize: config.get<string>('quantize', 'none'),
    mode: config.get<string>('mode', 'auto'),
  };
  for (const key of ['model', 'apiBase', 'apiModel', 'apiKeyEnv', 'caBundle', 'draftModel']) {
    const value = config.get<string>(key, '').trim();
    if (value) {
      settings[key] = value;
    }
  }
  return settings;
}

// The server command: a bare name is looked up on PATH; a relative path is taken from the workspace folder.
export function serverCommand(config: SettingsReader, workspaceFolder?: string): { command: string; args: string[] } {
  let command = config.get<string>('serverPath', 'codegen-lsp').trim() || 'codegen-lsp';
  if (workspaceFolder && command.includes('/') && !path.isAbsolute(command)) {
    command = path.join(workspaceFolder, command);
  }
  return { command, args: config.get<string[]>('serverArgs', ['--stdio']) };
}

// What the extension tells the server about the suggestions it showed and the user took (the messages Copilot's
// language server takes): pure helpers, so they can be tested without VS Code.

export const DID_SHOW = 'textDocument/didShowCompletion';
export const DID_PARTIALLY_ACCEPT = 'textDocument/didPartiallyAcceptCompletion';

// The part of an inline item the server needs back: its text and its command (whose argument identifies it).
export interface ReportedItem {
  insertText: string;
  command?: { title: string; command: string; arguments?: unknown[] };
}

// How much of `text` is at the start of `now` (what the document holds from the item's start), in UTF-16 code
// units: JavaScript strings count the same units the partial-accept notification does.
export function acceptedLength(now: string, text: string): number {
  const end = Math.min(now.length, text.length);
  let i = 0;
  while (i < end && now.charCodeAt(i) === text.charCodeAt(i)) {
    i++;
  }
  return i;
}

// The item as VS Code's language client turned it into a vscode.InlineCompletionItem, back in LSP's shape.
export function reportedItem(item: { insertText: unknown; command?: { title: string; command: string; arguments?: unknown[] } }): ReportedItem | undefined {
  const text = typeof item.insertText === 'string' ? item.insertText : (item.insertText as { value?: unknown })?.value;
  if (typeof text !== 'string' || !item.command) {
    return undefined; // not one of ours: nothing to report
  }
  const { title, command, arguments: args } = item.command;
  return { insertText: text, command: { title, command, arguments: args } };
}

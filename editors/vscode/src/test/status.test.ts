// What the status bar and the server settings come to, without VS Code (node --test).
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { serverCommand, serverSettings, SettingsReader } from '../config';
import { SERVER_SETTINGS } from '../serverSettings';
import { statusBarLook, usageSummary } from '../status';
import { acceptedLength, reportedItem } from '../acceptance';

function reader(values: Record<string, unknown>): SettingsReader {
  return { get: <T>(key: string, fallback: T) => (key in values ? (values[key] as T) : fallback) };
}

test('loading shows the progress percentage and what is being loaded', () => {
  const look = statusBarLook({ kind: 'server', status: { state: 'loading', model: 'm' }, progress: { percentage: 42.4, message: 'weights' } });
  assert.equal(look.text, '$(sync~spin) CodeGen 42%');
  assert.match(look.tooltip, /loading m: weights/);
  assert.equal(look.error, false);
});

test('ready, off and failed each say so, and a click does the useful thing', () => {
  const ready = statusBarLook({ kind: 'server', status: { state: 'ready', model: 'm', engine: 'transformers' } });
  assert.match(ready.text, /check/);
  assert.equal(ready.command, 'codegenLsp.toggle');
  const off = statusBarLook({ kind: 'server', status: { state: 'disabled' } });
  assert.match(off.text, /circle-slash/);
  const failed = statusBarLook({ kind: 'server', status: { state: 'failed', model: 'm', error: 'no such model' } });
  assert.equal(failed.error, true);
  assert.match(failed.tooltip, /no such model/);
  assert.equal(failed.command, 'codegenLsp.showOutput');
  const stopped = statusBarLook({ kind: 'stopped', reason: 'could not start x' });
  assert.equal(stopped.error, true);
});

test('server settings leave out empty strings so the server keeps its defaults', () => {
  const settings = serverSettings(reader({ model: '  ', device: 'cpu', maxNewTokens: 12, enable: false, draftModel: ' ' }));
  assert.equal('model' in settings, false);
  assert.equal('draftModel' in settings, false);
  assert.deepEqual(
    { device: settings.device, maxNewTokens: settings.maxNewTokens, enabled: settings.enabled, draftTokens: settings.draftTokens },
    { device: 'cpu', maxNewTokens: 12, enabled: false, draftTokens: 4 },
  );
  assert.equal(serverSettings(reader({ draftModel: '/models/codegen-350M-multi' })).draftModel, '/models/codegen-350M-multi');
});

test('a team server and a quantized model can be set from VS Code', () => {
  const team = serverSettings(reader({ apiBase: 'https://gpu:8000/v1', apiModel: 'codegen-16B-gptj', apiKeyEnv: 'TEAM_KEY',
    caBundle: '/etc/company-ca.pem', quantize: 'int8', mode: 'line' }));
  assert.deepEqual(
    [team.apiBase, team.apiModel, team.apiKeyEnv, team.caBundle, team.quantize, team.mode],
    ['https://gpu:8000/v1', 'codegen-16B-gptj', 'TEAM_KEY', '/etc/company-ca.pem', 'int8', 'line'],
  );
  const plain = serverSettings(reader({}));
  assert.equal('apiKeyEnv' in plain || 'caBundle' in plain, false);
  assert.deepEqual([plain.quantize, plain.mode], ['none', 'auto']);
});

test('a relative server path is taken from the workspace folder; a bare name is left to PATH', () => {
  assert.equal(serverCommand(reader({ serverPath: '.venv/bin/codegen-lsp' }), '/w').command, '/w/.venv/bin/codegen-lsp');
  assert.equal(serverCommand(reader({ serverPath: 'codegen-lsp' }), '/w').command, 'codegen-lsp');
  assert.deepEqual(serverCommand(reader({}), '/w').args, ['--stdio']);
});

test('the statistics summary reads the server counters, with drafts only when there were some', () => {
  assert.equal(
    usageSummary({ requests: 12, model_calls: 4, typed_through_hits: 7, latency_ms: { p50: 41.6 }, tokens_drafted: 30, tokens_accepted: 11 }),
    '12 requests, 4 answered by the model, 7 typed-through; answer p50 42 ms; speculative decoding: 11 of 30 drafted tokens accepted',
  );
  assert.equal(
    usageSummary({ requests: 0, model_calls: 0, typed_through_hits: 0, latency_ms: { p50: null }, tokens_drafted: 0 }),
    '0 requests, 0 answered by the model, 0 typed-through; answer p50 n/a',
  );
});

test('the summary gives the accept rate and the kept rates, n/a until the server has measured them', () => {
  const acceptance = { shown: 12, accepted: 4, partially_accepted: 2, accept_rate: 4 / 12, kept_rate_30s: 0.916, kept_rate_120s: null };
  assert.equal(
    usageSummary({ requests: 3, model_calls: 1, typed_through_hits: 0, latency_ms: { p50: 10 }, acceptance }),
    '3 requests, 1 answered by the model, 0 typed-through; answer p50 10 ms; ' +
      'suggestions: 12 shown, 4 accepted (33%), 2 in part; characters kept after 30 s 92%, after 2 min n/a',
  );
});

test('a partial accept counts UTF-16 units of the item text that are now in the document', () => {
  assert.equal(acceptedLength('value = 1', 'value = compute()'), 8);
  assert.equal(acceptedLength('😀 x', '😀 y'), 3); // the emoji is two units
  assert.equal(acceptedLength('', 'abc'), 0);
  assert.equal(acceptedLength('abcdef', 'abc'), 3);
});

test('only items that carry our command are reported, in the shape the server reads', () => {
  const command = { title: 't', command: 'codegen-lsp.didAcceptCompletionItem', arguments: ['7'] };
  assert.deepEqual(reportedItem({ insertText: 'x = 1', command }), { insertText: 'x = 1', command });
  assert.deepEqual(reportedItem({ insertText: { value: 'y' }, command })?.insertText, 'y');
  assert.equal(reportedItem({ insertText: 'x' }), undefined);
});

test('with saved counters the summary adds the last saved days', () => {
  const saved = { days: ['2026-11-29', '2026-11-30'], shown: 40, accepted: 10, partially_accepted: 3, accept_rate: 0.25, kept_rate_30s: 0.9, kept_rate_120s: 0.8 };
  assert.match(
    usageSummary({ acceptance: { shown: 2, accepted: 1, accept_rate: 0.5, saved } }),
    /suggestions: 2 shown, 1 accepted \(50%\), 0 in part; .*; saved, last 2 days: suggestions: 40 shown, 10 accepted \(25%\), 3 in part; characters kept after 30 s 90%, after 2 min 80%$/,
  );
});

test('every setting the extension exposes is sent, with the default package.json declares', () => {
  const sent = serverSettings(reader({}));
  for (const { key, fallback } of SERVER_SETTINGS) {
    assert.equal(key in sent, fallback !== '', key); // an empty string is "the server's default": not sent
    if (fallback !== '') {
      assert.equal(sent[key], fallback, key);
    }
  }
  const changed = serverSettings(reader({ typedThrough: false, cacheEntries: 0, logLevel: 'debug', topP: 0.9 }));
  assert.deepEqual([changed.typedThrough, changed.cacheEntries, changed.logLevel, changed.topP], [false, 0, 'debug', 0.9]);
});

test('the switch is `enabled`, and the old `enable` set to false still keeps completions off', () => {
  assert.equal(serverSettings(reader({ enabled: false })).enabled, false);
  assert.equal(serverSettings(reader({ enable: false })).enabled, false);
  assert.equal(serverSettings(reader({ enable: true, enabled: true })).enabled, true);
  assert.equal(serverSettings(reader({})).enabled, true);
});

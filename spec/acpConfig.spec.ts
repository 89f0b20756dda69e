/**
 * The pure parts of the ACP runtime: agent configuration (command lines, env, file), the
 * permission option choice, secret redaction, and the update mapping's edge cases.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { mergeAgentSpecs, parseAgentEntry, parseAgentsEnv, parseAgentsFile, splitCommandLine } from '../gateway/app/agents/agentSpecs.js';
import { chooseOutcome } from '../gateway/app/agents/permissions.js';
import { redactSecrets } from '../gateway/app/agents/redact.js';
import { createUpdateMapper } from '../gateway/app/agents/updateMapping.js';
import { parseCliOptions } from '../gateway/app/cli/options.js';

test('command lines split like a shell: quotes, escapes, no expansion', () => {
  assert.equal(splitCommandLine('npx -y @zed-industries/claude-code-acp', 's'), ['npx', '-y', '@zed-industries/claude-code-acp']);
  assert.equal(splitCommandLine(`run 'a b' "c \\"d\\" e" f\\ g $HOME`, 's'), ['run', 'a b', 'c "d" e', 'f g', '$HOME']);
  assert.equal(splitCommandLine(`x ''`, 's'), ['x', '']);
  assert.throws(() => splitCommandLine(`x 'open`, 's'), /unterminated '/);
  assert.throws(() => splitCommandLine(`x "open`, 's'), /unterminated "/);
});

test('--agent entries, GATEWAY_AGENTS and the agents file; reserved and bad names; flags win', () => {
  assert.equal(parseAgentEntry('gemini=gemini --experimental-acp', '--agent'), { name: 'gemini', command: 'gemini', args: ['--experimental-acp'], env: {} });
  assert.throws(() => parseAgentEntry('demo=x', '--agent'), /reserved/);
  assert.throws(() => parseAgentEntry('bad name=x', '--agent'), /may only contain/);
  assert.throws(() => parseAgentEntry('=x', '--agent'), /NAME=COMMAND/);
  assert.throws(() => parseAgentEntry('a=  ', '--agent'), /empty command/);
  assert.equal(parseAgentsEnv('a=one x; b=two\nc=three').map((s) => [s.name, s.command, s.args]), [['a', 'one', ['x']], ['b', 'two', []], ['c', 'three', []]]);
  const file = parseAgentsFile({ agents: { a: 'npx -y pkg', b: { command: ['node', 'x.js'], args: ['--acp'], env: { K: 'v' } } } }, 'f');
  assert.equal(file, [
    { name: 'a', command: 'npx', args: ['-y', 'pkg'], env: {} },
    { name: 'b', command: 'node', args: ['x.js', '--acp'], env: { K: 'v' } },
  ]);
  assert.throws(() => parseAgentsFile({ a: { command: 3 } }, 'f'), /"command"/);
  assert.throws(() => parseAgentsFile({ a: { command: 'x', env: { K: 1 } } }, 'f'), /env\.K/);
  assert.throws(() => parseAgentsFile([], 'f'), /JSON object/);
  assert.throws(() => mergeAgentSpecs({ source: 's', specs: [parseAgentEntry('a=x', 's'), parseAgentEntry('a=y', 's')] }), /given twice/);

  const options = parseCliOptions(['--agent', 'claude=npx -y @zed-industries/claude-code-acp', '--agents-file', 'agents.json'], {
    GATEWAY_AGENTS: 'claude=ignored;gemini=gemini --experimental-acp',
  });
  assert.ok(!('help' in options));
  if ('help' in options) return;
  assert.equal(options.agents?.map((a) => [a.name, a.command]), [['claude', 'npx'], ['gemini', 'gemini']]);
  assert.is(options.agentsFile, 'agents.json');
  const plain = parseCliOptions([], {});
  assert.ok(!('help' in plain) && !('agents' in plain) && !('agentsFile' in plain));
  assert.throws(() => parseCliOptions(['--agent', 'demo=x'], {}), /reserved/);
});

test('permission choice: optionId first, then the one-time allow or reject, else cancelled', () => {
  const options = [
    { optionId: 'a1', name: 'Allow', kind: 'allow_once' },
    { optionId: 'a2', name: 'Always', kind: 'allow_always' },
    { optionId: 'r1', name: 'Reject', kind: 'reject_once' },
  ];
  assert.equal(chooseOutcome(options, { allow: true }), { outcome: 'selected', optionId: 'a1' });
  assert.equal(chooseOutcome(options, { allow: false }), { outcome: 'selected', optionId: 'r1' });
  assert.equal(chooseOutcome(options, { allow: false, optionId: 'a2' }), { outcome: 'selected', optionId: 'a2' });
  assert.equal(chooseOutcome(options, { allow: true, optionId: 'made-up' }), { outcome: 'selected', optionId: 'a1' });
  assert.equal(chooseOutcome([options[1]], { allow: true }), { outcome: 'selected', optionId: 'a2' });
  assert.equal(chooseOutcome([options[0]], { allow: false }), { outcome: 'cancelled' });
});

test('secrets are masked in agent output', () => {
  const line = 'key sk-ant-api03-abcdefghijklmnopqrstuv Authorization: Bearer abc.def.ghijklmnop token=supersecretvalue ghp_abcdefghijklmnopqrstuvwxyz12';
  const clean = redactSecrets(line);
  for (const secret of ['abcdefghijklmnopqrstuv', 'ghijklmnop', 'supersecretvalue', 'ghp_abc']) assert.not.ok(clean.includes(secret), clean);
  assert.match(clean, /token=\[redacted\]/);
  assert.is(redactSecrets('plain words stay'), 'plain words stay');
});

test('mapping: non-text chunks, an update for an unseen tool call, a tool done on creation, bounded tracking', () => {
  const mapper = createUpdateMapper({ maxTrackedToolCalls: 2 });
  assert.equal(mapper.update({ sessionUpdate: 'agent_message_chunk', content: { type: 'text', text: 'hi' } }), [{ kind: 'stream_delta', content: 'hi' }]);
  const image = mapper.update({ sessionUpdate: 'agent_message_chunk', content: { type: 'image', data: 'x', mimeType: 'image/png' } });
  assert.equal(image.map((f) => f.kind), ['stream_end', 'text']);
  assert.is(image[1].content, '[image]');
  const orphan = mapper.update({ sessionUpdate: 'tool_call_update', toolCallId: 'ghost', status: 'completed', rawOutput: { ok: true } });
  assert.equal(orphan[0].kind, 'tool_result');
  assert.is(orphan[0].content, '{"ok":true}');
  const done = mapper.update({ sessionUpdate: 'tool_call', toolCallId: 't1', title: 'Read x', kind: 'read', status: 'completed', content: [{ type: 'content', content: { type: 'text', text: 'file body' } }] });
  assert.equal(done.map((f) => f.kind), ['tool_use', 'tool_result']);
  // A second completion of the same call is not a second result.
  assert.equal(mapper.update({ sessionUpdate: 'tool_call_update', toolCallId: 't1', status: 'completed' })[0].kind, 'acp_update');
  assert.equal(mapper.update('not an object')[0].kind, 'acp_update');
  assert.equal(mapper.finish(), []);
});

test.run();

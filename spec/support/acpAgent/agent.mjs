#!/usr/bin/env node
/**
 * A real ACP agent for the specs, built on the SDK's agent side: a protocol peer over stdio, not a
 * mock of our runtime. Plain JS so it starts fast in any cwd (the gateway runs it in the project).
 *
 * Start-up behaviour comes from its arguments:
 *   --slow-init        never answers `initialize`
 *   --exit-at-start    writes a line with a fake API key to stderr and exits 2 before reading anything
 *   --garbage-at-start writes a non-JSON line to stdout before anything else
 *   --no-load          does not advertise `loadSession`
 *
 * Each prompt's first word picks the turn's script (the rest are its arguments):
 *   stream             a thought, five text chunks, a usage update, end_turn
 *   tool               a tool call with a diff, progress, its completion, a plan, end_turn
 *   permission         asks permission (allow once / always / reject); reports the outcome
 *   permcrash          asks permission, then exits 4 while it is pending
 *   permflood N        asks N permissions at once, waits 1 s, answers "cancelled=<how many were>"
 *   readflood N PATH   stops reading its stdin, asks to read PATH N times at once, reads again
 *                      after 1.5 s; answers "ok=<answered> refused=<errors>"
 *   read PATH          fs/read_text_file; answers "read ok: …" or "read error: …"
 *   write PATH TEXT    fs/write_text_file; answers "write ok" or "write error: …"
 *   terminal CMD…      terminal/create + wait + output + release, as a tool call with terminal content
 *   whoami             answers "session=<id> loaded=<bool> pid=<pid> turns=<n>"
 *   crash              one chunk, then exits 3 mid-turn
 *   malformed          writes a non-JSON line to stdout mid-turn
 *   longline BYTES     writes one JSON line of about BYTES bytes
 *   flood N            N text chunks
 *   hang               answers only when cancelled (stopReason cancelled)
 *   ignorecancel       never answers, even when cancelled
 *   refusal | max_tokens   ends with that stopReason
 *   late               ends the turn, then sends a chunk after its answer
 *   unknown            sends an update kind no version of ACP has, then end_turn
 *   fail               the prompt answers a JSON-RPC error
 * Sessions are kept as JSON files under <cwd>/.acp-test-sessions, so a new process can load them
 * (history replayed as updates before the load answers, as ACP says).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';

import { agent, ndJsonStream, RequestError } from '@agentclientprotocol/sdk';

const flags = new Set(process.argv.slice(2));

if (flags.has('--exit-at-start')) {
  process.stderr.write('fatal: cannot start, ANTHROPIC_API_KEY=sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789 rejected\n');
  process.exit(2);
}
if (flags.has('--garbage-at-start')) process.stdout.write('Welcome to the agent! (this is not JSON)\n');

const stateDir = join(process.cwd(), '.acp-test-sessions');
const sessions = new Map();
let turns = 0;

function sessionFile(id) {
  return join(stateDir, `${id.replace(/[^\w-]/g, '_')}.json`);
}
function save(session) {
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(sessionFile(session.id), JSON.stringify({ id: session.id, history: session.history }));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const app = agent({ name: 'spec-acp-agent' })
  .onRequest('initialize', async () => {
    if (flags.has('--slow-init')) await new Promise(() => {});
    return {
      protocolVersion: 1,
      agentCapabilities: { loadSession: !flags.has('--no-load') },
      agentInfo: { name: 'spec-acp-agent', version: '1.0.0' },
      authMethods: [],
    };
  })
  .onRequest('session/new', ({ params }) => {
    const session = { id: `sess_${randomUUID()}`, cwd: params.cwd, history: [], loaded: false, cancel: null };
    sessions.set(session.id, session);
    save(session);
    return { sessionId: session.id };
  })
  .onRequest('session/load', async ({ params, client }) => {
    if (flags.has('--no-load')) throw RequestError.methodNotFound('session/load');
    if (!existsSync(sessionFile(params.sessionId))) throw new RequestError(-32002, `Session not found: ${params.sessionId}`);
    const stored = JSON.parse(readFileSync(sessionFile(params.sessionId), 'utf8'));
    const session = { id: stored.id, cwd: params.cwd, history: stored.history, loaded: true, cancel: null };
    sessions.set(session.id, session);
    for (const entry of session.history) {
      await client.notify('session/update', {
        sessionId: session.id,
        update: { sessionUpdate: entry.role === 'user' ? 'user_message_chunk' : 'agent_message_chunk', content: { type: 'text', text: entry.text } },
      });
    }
    return {};
  })
  .onNotification('session/cancel', ({ params }) => {
    sessions.get(params.sessionId)?.cancel?.();
  })
  .onRequest('session/prompt', async ({ params, client }) => {
    const session = sessions.get(params.sessionId);
    if (!session) throw new RequestError(-32002, `Session not found: ${params.sessionId}`);
    turns++;
    const text = params.prompt.map((block) => (block.type === 'text' ? block.text : '')).join('');
    const [script, ...args] = text.trim().split(/\s+/);
    session.history.push({ role: 'user', text });
    let cancelled = false;
    const cancelledPromise = new Promise((resolve) => {
      session.cancel = () => {
        cancelled = true;
        resolve();
      };
    });
    const update = (u) => client.notify('session/update', { sessionId: session.id, update: u });
    const say = async (words) => {
      session.history.push({ role: 'assistant', text: words });
      await update({ sessionUpdate: 'agent_message_chunk', content: { type: 'text', text: words } });
    };
    try {
      return await runScript();
    } finally {
      session.cancel = null;
      save(session);
    }

    async function runScript() {
      switch (script) {
        case 'stream': {
          await update({ sessionUpdate: 'agent_thought_chunk', content: { type: 'text', text: 'Thinking about the answer.' } });
          for (const word of ['One ', 'two ', 'three ', 'four ', 'five.']) await say(word);
          await update({ sessionUpdate: 'usage_update', used: 1234, size: 200000 });
          return { stopReason: 'end_turn' };
        }
        case 'tool': {
          await update({ sessionUpdate: 'plan', entries: [{ content: 'Edit the readme', priority: 'high', status: 'in_progress' }] });
          await update({
            sessionUpdate: 'tool_call',
            toolCallId: 'call_edit_1',
            title: 'Edit README.md',
            kind: 'edit',
            status: 'pending',
            rawInput: { file_path: 'README.md', old_string: 'old', new_string: 'new' },
          });
          await update({ sessionUpdate: 'tool_call_update', toolCallId: 'call_edit_1', status: 'in_progress' });
          await update({
            sessionUpdate: 'tool_call_update',
            toolCallId: 'call_edit_1',
            status: 'completed',
            content: [{ type: 'diff', path: join(session.cwd, 'README.md'), oldText: 'old line\n', newText: 'new line\n' }],
          });
          await update({ sessionUpdate: 'tool_call', toolCallId: 'call_bad_2', title: 'Run tests', kind: 'execute', status: 'pending', rawInput: { command: 'npm test' } });
          await update({
            sessionUpdate: 'tool_call_update',
            toolCallId: 'call_bad_2',
            status: 'failed',
            content: [{ type: 'content', content: { type: 'text', text: '2 tests failed' } }],
          });
          await say('Edited the readme.');
          return { stopReason: 'end_turn' };
        }
        case 'permission': {
          await update({ sessionUpdate: 'tool_call', toolCallId: 'call_perm_1', title: 'Run rm -rf build', kind: 'execute', status: 'pending', rawInput: { command: 'rm -rf build' } });
          const answer = await client.request('session/request_permission', {
            sessionId: session.id,
            toolCall: { toolCallId: 'call_perm_1', title: 'Run rm -rf build', kind: 'execute', rawInput: { command: 'rm -rf build' } },
            options: [
              { optionId: 'opt-allow', name: 'Allow', kind: 'allow_once' },
              { optionId: 'opt-always', name: 'Always allow', kind: 'allow_always' },
              { optionId: 'opt-reject', name: 'Reject', kind: 'reject_once' },
            ],
          });
          if (answer.outcome.outcome === 'cancelled' || cancelled) return { stopReason: 'cancelled' };
          const allowed = answer.outcome.optionId !== 'opt-reject';
          await update({
            sessionUpdate: 'tool_call_update',
            toolCallId: 'call_perm_1',
            status: allowed ? 'completed' : 'failed',
            content: [{ type: 'content', content: { type: 'text', text: allowed ? 'removed build/' : 'not run' } }],
          });
          await say(`outcome=${answer.outcome.optionId}`);
          return { stopReason: 'end_turn' };
        }
        case 'permflood': {
          let cancelledCount = 0;
          for (let i = 0; i < Number(args[0] ?? 10); i++) {
            void client
              .request('session/request_permission', {
                sessionId: session.id,
                toolCall: { toolCallId: `call_flood_${i}`, title: `Tool ${i}`, kind: 'execute', rawInput: { i } },
                options: [{ optionId: 'yes', name: 'Allow', kind: 'allow_once' }, { optionId: 'no', name: 'Reject', kind: 'reject_once' }],
              })
              .then((answer) => {
                if (answer.outcome.outcome === 'cancelled') cancelledCount++;
              }, () => {});
          }
          await sleep(1000);
          await say(`cancelled=${cancelledCount}`);
          return { stopReason: 'end_turn' };
        }
        case 'readflood': {
          process.stdin.pause();
          const reads = [];
          for (let i = 0; i < Number(args[0] ?? 10); i++) {
            reads.push(client.request('fs/read_text_file', { sessionId: session.id, path: args[1] }).then(() => 'ok', () => 'refused'));
          }
          await sleep(1500);
          process.stdin.resume();
          const outcomes = await Promise.all(reads);
          await say(`ok=${outcomes.filter((o) => o === 'ok').length} refused=${outcomes.filter((o) => o === 'refused').length}`);
          return { stopReason: 'end_turn' };
        }
        case 'permcrash': {
          void client
            .request('session/request_permission', {
              sessionId: session.id,
              toolCall: { toolCallId: 'call_perm_2', title: 'Delete everything', kind: 'delete', rawInput: {} },
              options: [{ optionId: 'yes', name: 'Allow', kind: 'allow_once' }, { optionId: 'no', name: 'Reject', kind: 'reject_once' }],
            })
            .catch(() => {});
          await sleep(300);
          process.exit(4);
          break;
        }
        case 'read': {
          try {
            const result = await client.request('fs/read_text_file', { sessionId: session.id, path: args[0] });
            await say(`read ok: ${result.content}`);
          } catch (error) {
            await say(`read error: ${error.message}`);
          }
          return { stopReason: 'end_turn' };
        }
        case 'write': {
          try {
            await client.request('fs/write_text_file', { sessionId: session.id, path: args[0], content: args.slice(1).join(' ') });
            await say('write ok');
          } catch (error) {
            await say(`write error: ${error.message}`);
          }
          return { stopReason: 'end_turn' };
        }
        case 'terminal': {
          const terminal = await client.createTerminal({ sessionId: session.id, command: args.join(' '), outputByteLimit: 4096 });
          await update({ sessionUpdate: 'tool_call', toolCallId: 'call_term_1', title: `Run ${args.join(' ')}`, kind: 'execute', status: 'in_progress', content: [{ type: 'terminal', terminalId: terminal.id }] });
          const exit = await terminal.waitForExit();
          const output = await terminal.currentOutput();
          await terminal.release();
          await update({ sessionUpdate: 'tool_call_update', toolCallId: 'call_term_1', status: exit.exitCode === 0 ? 'completed' : 'failed' });
          await say(`exit=${exit.exitCode} output=${JSON.stringify(output.output.trim())}`);
          return { stopReason: 'end_turn' };
        }
        case 'whoami':
          await say(`session=${session.id} loaded=${session.loaded} pid=${process.pid} turns=${turns}`);
          return { stopReason: 'end_turn' };
        case 'crash':
          await say('about to crash');
          await sleep(20);
          process.exit(3);
          break;
        case 'malformed':
          await say('about to break the protocol');
          process.stdout.write('oops, this is not JSON\n');
          await cancelledPromise;
          return { stopReason: 'cancelled' };
        case 'longline':
          await say('x'.repeat(Number(args[0]) || 1_000_000));
          return { stopReason: 'end_turn' };
        case 'flood': {
          const count = Number(args[0]) || 1000;
          for (let i = 0; i < count; i++) await update({ sessionUpdate: 'agent_message_chunk', content: { type: 'text', text: `${i} ` } });
          return { stopReason: 'end_turn' };
        }
        case 'hang':
          await say('working on it');
          await cancelledPromise;
          return { stopReason: 'cancelled' };
        case 'ignorecancel':
          await say('you cannot stop me');
          await new Promise(() => {});
          break;
        case 'refusal':
        case 'max_tokens':
          await say('I stop here.');
          return { stopReason: script };
        case 'late':
          await say('done');
          setTimeout(() => void update({ sessionUpdate: 'agent_message_chunk', content: { type: 'text', text: 'LATE CHUNK' } }), 30);
          return { stopReason: 'end_turn' };
        case 'unknown':
          await update({ sessionUpdate: 'hologram_update', beam: 42 });
          await say('sent an unknown update');
          return { stopReason: 'end_turn' };
        case 'fail':
          throw new RequestError(-32603, 'Authentication required: run `agent login`');
        default:
          await say(`unknown script "${script}"`);
          return { stopReason: 'end_turn' };
      }
      return { stopReason: 'end_turn' };
    }
  });

const stream = ndJsonStream(Writable.toWeb(process.stdout), Readable.toWeb(process.stdin));
const connection = app.connect(stream);
await connection.closed;
process.exit(0);

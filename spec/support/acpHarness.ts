/**
 * A real gateway (chatHarness: http on 127.0.0.1:0, SQLite in a temp dir) whose runtime is the
 * real ACP runtime, running the spec's real ACP agent (`acpAgent/agent.mjs`) as child processes.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { createAcpRuntime, type AcpRuntime } from '../../gateway/app/agents/acpRuntime.js';
import type { AcpLimits } from '../../gateway/app/agents/acpLimits.js';
import type { AgentSpec } from '../../gateway/app/agents/agentSpecs.js';
import type { Logger } from '../../gateway/logger.js';
import { startHarness, type Frame, type Harness, type TestClient } from './chatHarness.js';

export const TEST_AGENT = resolve(import.meta.dirname, 'acpAgent', 'agent.mjs');

/** The spec agent under a provider name, with start-up flags. */
export function testAgent(name = 'acp', flags: string[] = []): AgentSpec {
  return { name, command: process.execPath, args: [TEST_AGENT, ...flags], env: {} };
}

/** A logger that keeps every line, to check what reached the log. */
export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    lines.push(`${level} ${message} ${fields ? JSON.stringify(fields) : ''}`);
  };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export interface AcpHarness extends Harness {
  runtime: AcpRuntime;
  /** A project directory for sessions (the agent's cwd). */
  project: string;
  logger: Logger & { lines: string[] };
}

export async function startAcpHarness(
  agents: AgentSpec[],
  limits: Partial<AcpLimits> = {},
  dir = mkdtempSync(join(tmpdir(), 'ag-acp-')),
): Promise<AcpHarness> {
  const logger = recordingLogger();
  const runtime = createAcpRuntime({ agents, limits, logger });
  const harness = await startHarness(runtime, {}, dir);
  const project = join(dir, 'project');
  mkdirSync(project, { recursive: true });
  const stop = harness.stop.bind(harness);
  return Object.assign(harness, {
    runtime,
    project,
    logger,
    async stop() {
      await stop();
      await runtime.close();
    },
  });
}

/** Sends a prompt and resolves with the frames of that run, up to and including its `complete`. */
export async function turn(client: TestClient, sessionId: string, content: string, timeoutMs = 15_000): Promise<Frame[]> {
  const from = client.frames.length;
  client.send({ type: 'chat.send', sessionId, content });
  await client.waitFor((frame) => frame.kind === 'complete' && frame.sessionId === sessionId, timeoutMs, from);
  return client.frames.slice(from).filter((frame) => frame.sessionId === sessionId && typeof frame.seq === 'number');
}

/** The frames' kinds, in order. */
export const kinds = (frames: Frame[]) => frames.map((frame) => frame.kind);

/** The text a run streamed (its stream_delta contents). */
export const streamed = (frames: Frame[]) =>
  frames
    .filter((frame) => frame.kind === 'stream_delta')
    .map((frame) => frame.content)
    .join('');

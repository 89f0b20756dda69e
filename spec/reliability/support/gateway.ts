/**
 * A complete gateway for the reliability suites: the real createWebSocketServer with all three
 * routes live (chat on a given runtime, /shell confined to a temp workspace root, /plugin-ws/echo
 * tunnelled to a local echo plugin), SQLite in a temp dir, and a logger that records every line
 * so a test can count failure reports and search them for secrets.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { WebSocketServer } from 'ws';

import type { GatewayLimits } from '../../../gateway/config.js';
import type { Logger } from '../../../gateway/logger.js';
import type { GatewayDeps, ProviderRuntime } from '../../../gateway/types.js';
import { startHarness, type Harness } from '../../support/chatHarness.js';
import { collectGarbage } from '../../support/collectGarbage.js';

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  fields?: Record<string, unknown>;
}

export interface RecordingLogger extends Logger {
  readonly lines: LogLine[];
  /** Every line and its fields as one text, for searching. */
  text(): string;
}

export function createRecordingLogger(): RecordingLogger {
  const lines: LogLine[] = [];
  const at = (level: LogLine['level']) => (message: string, fields?: Record<string, unknown>) => {
    lines.push({ level, message, fields });
  };
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    text: () => lines.map((line) => `${line.level} ${line.message} ${safeJson(line.fields)}`).join('\n'),
  };
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return String(value);
  }
}

export interface ReliabilityGateway {
  h: Harness;
  upstream: EchoPlugin;
  /** The only directory /shell may start in (and below). */
  workspace: string;
  logger: RecordingLogger;
  close(): Promise<void>;
}

export interface ReliabilityGatewayOptions {
  runtime: ProviderRuntime;
  limits?: Partial<GatewayLimits>;
  deps?: Partial<GatewayDeps>;
  /** Reuse a data dir (restart on the same SQLite file). */
  dir?: string;
  upstream?: EchoPlugin;
  /** Every name the gateway asks the plugin registry about is pushed here. */
  pluginLookups?: string[];
}

export const ECHO_PLUGIN = 'echo';

/** A plugin that echoes; it keeps no frames (a soak or fuzz run would otherwise hold them all). */
export interface EchoPlugin {
  port: number;
  /** Close codes of the connections the gateway closed. */
  closes: number[];
  close(): Promise<void>;
}

/** An upstream plugin that echoes every frame, text as text and binary as binary. */
export async function startEchoPlugin(): Promise<EchoPlugin> {
  const server = createServer();
  const wss = new WebSocketServer({ server, maxPayload: 64 * MiB });
  const plugin: EchoPlugin = {
    port: 0,
    closes: [],
    async close() {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
    ws.on('close', (code) => plugin.closes.push(code));
    ws.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  plugin.port = (server.address() as AddressInfo).port;
  return plugin;
}

export async function startReliabilityGateway(options: ReliabilityGatewayOptions): Promise<ReliabilityGateway> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'ag-rel-'));
  const workspace = join(dir, 'workspace');
  mkdirSync(workspace, { recursive: true });
  const upstream = options.upstream ?? (await startEchoPlugin());
  const ownsUpstream = options.upstream === undefined;
  const logger = createRecordingLogger();
  const h = await startHarness(
    options.runtime,
    {
      logger,
      shell: { allowedRoots: [workspace] },
      getPluginPort: (name) => {
        options.pluginLookups?.push(name);
        return name === ECHO_PLUGIN ? upstream.port : null;
      },
      limits: options.limits,
      ...options.deps,
    },
    dir,
  );
  return {
    h,
    upstream,
    workspace,
    logger,
    async close() {
      await h.stop();
      if (ownsUpstream) await upstream.close();
    },
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

// ---- memory ----

/** Live JS heap plus array buffers (socket buffers) after a full GC, in bytes. */
export function retainedBytes(): number {
  collectGarbage();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

export const MiB = 1024 * 1024;

// ---- process-wide failures ----

export interface FailureWatch {
  readonly unhandled: string[];
  stop(): void;
}

/** Records unhandled rejections and uncaught exceptions instead of letting them end the process. */
export function watchProcessFailures(): FailureWatch {
  const unhandled: string[] = [];
  const onRejection = (reason: unknown) => unhandled.push(`unhandledRejection: ${describe(reason)}`);
  const onException = (error: unknown) => unhandled.push(`uncaughtException: ${describe(error)}`);
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return {
    unhandled,
    stop() {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    },
  };
}

function describe(value: unknown): string {
  return value instanceof Error ? `${value.message}\n${value.stack ?? ''}` : String(value);
}

/** Polls until `condition` holds; rejects with `what` after `timeoutMs`. */
export async function waitUntil(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

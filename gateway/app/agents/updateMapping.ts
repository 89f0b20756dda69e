/**
 * ACP `session/update` → the gateway's normalized frames (claudecodeui's shapes). Pure: one mapper
 * per run holds only whether a text stream is open and the run's recent tool calls. The table is
 * in docs/PROTOCOL.md ("ACP agents"); in short:
 *
 *   agent_message_chunk (text)  → stream_delta { content }        (stream_end before any other frame)
 *   agent_thought_chunk (text)  → thinking { content }
 *   tool_call                   → tool_use { toolName, toolInput, input, toolId, toolKind, title }
 *   tool_call_update completed/failed → tool_result { toolId, toolName, content, isError,
 *                                 toolResult: { content, isError }, diffs: [{ path, oldText, newText }] }
 *   plan                        → plan { entries }
 *   usage_update                → status { text, tokens: { used, total }, cost }
 *   anything else               → acp_update { sessionUpdate, update }   (never dropped)
 */
import type { NormalizedMessage } from '../../types.js';

export interface DiffContent {
  path: string;
  oldText: string | null;
  newText: string;
}

interface TrackedTool {
  toolName: string;
  input: unknown;
  kind: string | null;
  title: string | null;
  diffs: DiffContent[];
  texts: string[];
  terminals: string[];
  done: boolean;
}

export interface UpdateMapperOptions {
  maxTrackedToolCalls: number;
  /** The output of one of the session's terminals, to show in a tool result that embeds it. */
  terminalOutput?(terminalId: string): string | null;
}

export interface UpdateMapper {
  /** The frames for one `session/update`'s `update` object. */
  update(update: unknown): NormalizedMessage[];
  /** A frame of the runtime's own (permission_request, error, complete…), after closing an open stream. */
  frame(kind: string, fields?: Record<string, unknown>): NormalizedMessage[];
  /** Closes an open text stream. */
  finish(): NormalizedMessage[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

/** The text of an ACP content block; non-text blocks are described, not dropped. */
export function contentBlockText(block: unknown): string {
  if (!isRecord(block)) return '';
  switch (block.type) {
    case 'text':
      return str(block.text) ?? '';
    case 'resource_link':
      return `[${str(block.name) ?? 'resource'}: ${str(block.uri) ?? ''}]`;
    case 'resource': {
      const resource = isRecord(block.resource) ? block.resource : {};
      return str(resource.text) ?? `[resource ${str(resource.uri) ?? ''}]`;
    }
    case 'image':
      return '[image]';
    case 'audio':
      return '[audio]';
    default:
      return '';
  }
}

/** Display name of a tool: ACP has no machine name, so the title (else the kind). */
function toolNameOf(update: Record<string, unknown>, fallback: string): string {
  return str(update.title) || str(update.name) || str(update.kind) || fallback;
}

function readToolContent(content: unknown, tool: TrackedTool): void {
  if (!Array.isArray(content)) return;
  // A tool_call_update's content replaces the call's content (ACP).
  tool.texts = [];
  tool.diffs = [];
  tool.terminals = [];
  for (const item of content) {
    if (!isRecord(item)) continue;
    if (item.type === 'diff' && typeof item.path === 'string') {
      tool.diffs.push({ path: item.path, oldText: str(item.oldText), newText: str(item.newText) ?? '' });
    } else if (item.type === 'content') {
      const text = contentBlockText(item.content);
      if (text) tool.texts.push(text);
    } else if (item.type === 'terminal' && typeof item.terminalId === 'string') {
      tool.terminals.push(item.terminalId);
    }
  }
}

function rawOutputText(rawOutput: unknown): string | null {
  if (rawOutput === undefined || rawOutput === null) return null;
  if (typeof rawOutput === 'string') return rawOutput;
  try {
    return JSON.stringify(rawOutput);
  } catch {
    return null;
  }
}

export function createUpdateMapper(options: UpdateMapperOptions): UpdateMapper {
  let streaming = false;
  const tools = new Map<string, TrackedTool>();

  const close = (): NormalizedMessage[] => {
    if (!streaming) return [];
    streaming = false;
    return [{ kind: 'stream_end' }];
  };
  const frame = (kind: string, fields: Record<string, unknown> = {}): NormalizedMessage[] => [...close(), { ...fields, kind }];

  const remember = (toolId: string, tool: TrackedTool) => {
    tools.delete(toolId);
    tools.set(toolId, tool);
    while (tools.size > options.maxTrackedToolCalls) tools.delete(tools.keys().next().value as string);
  };

  const resultFrame = (toolId: string, tool: TrackedTool, status: string, rawOutput: unknown): NormalizedMessage[] => {
    tool.done = true;
    const parts = [...tool.texts];
    for (const terminalId of tool.terminals) {
      const output = options.terminalOutput?.(terminalId);
      parts.push(output ?? `[terminal ${terminalId}]`);
    }
    if (parts.length === 0) {
      const raw = rawOutputText(rawOutput);
      if (raw) parts.push(raw);
    }
    if (parts.length === 0 && tool.diffs.length > 0) parts.push(tool.diffs.map((diff) => `Edited ${diff.path}`).join('\n'));
    const content = parts.join('\n');
    const isError = status === 'failed';
    return frame('tool_result', {
      toolId,
      toolName: tool.toolName,
      content,
      isError,
      toolResult: { content, isError },
      ...(tool.diffs.length > 0 ? { diffs: tool.diffs } : {}),
      status,
    });
  };

  /** Not a row of the conversation: an open text stream stays open around it. */
  const passThrough = (update: Record<string, unknown>): NormalizedMessage[] => [
    { kind: 'acp_update', sessionUpdate: str(update.sessionUpdate) ?? null, update },
  ];

  return {
    frame,
    finish: close,
    update(update) {
      if (!isRecord(update)) return [{ kind: 'acp_update', sessionUpdate: null, update }];
      switch (update.sessionUpdate) {
        case 'agent_message_chunk': {
          const text = isRecord(update.content) && update.content.type === 'text' ? str(update.content.text) : null;
          if (text === null) return frame('text', { role: 'assistant', content: contentBlockText(update.content), acp: update });
          streaming = true;
          return [{ kind: 'stream_delta', content: text }];
        }
        case 'agent_thought_chunk': {
          const text = contentBlockText(update.content);
          return frame('thinking', { content: text });
        }
        case 'tool_call': {
          const toolId = str(update.toolCallId);
          if (!toolId) return passThrough(update);
          const tool: TrackedTool = {
            toolName: toolNameOf(update, 'tool'),
            input: update.rawInput ?? {},
            kind: str(update.kind),
            title: str(update.title),
            diffs: [],
            texts: [],
            terminals: [],
            done: false,
          };
          readToolContent(update.content, tool);
          remember(toolId, tool);
          const frames = frame('tool_use', {
            toolName: tool.toolName,
            toolInput: tool.input,
            input: tool.input,
            toolId,
            toolKind: tool.kind,
            title: tool.title,
            ...(Array.isArray(update.locations) ? { locations: update.locations } : {}),
            ...(tool.diffs.length > 0 ? { diffs: tool.diffs } : {}),
          });
          const status = str(update.status);
          if (status === 'completed' || status === 'failed') frames.push(...resultFrame(toolId, tool, status, update.rawOutput));
          return frames;
        }
        case 'tool_call_update': {
          const toolId = str(update.toolCallId);
          if (!toolId) return passThrough(update);
          let tool = tools.get(toolId);
          if (!tool) {
            // An update for a call we never saw (forgotten, or the agent skipped tool_call).
            tool = { toolName: toolNameOf(update, 'tool'), input: update.rawInput ?? {}, kind: str(update.kind), title: str(update.title), diffs: [], texts: [], terminals: [], done: false };
            remember(toolId, tool);
          }
          if (str(update.title)) tool.toolName = toolNameOf(update, tool.toolName);
          if (update.rawInput !== undefined && update.rawInput !== null) tool.input = update.rawInput;
          if (update.content !== undefined) readToolContent(update.content, tool);
          const status = str(update.status);
          if ((status === 'completed' || status === 'failed') && !tool.done) return resultFrame(toolId, tool, status, update.rawOutput);
          return passThrough(update);
        }
        case 'plan': {
          const entries = Array.isArray(update.entries)
            ? update.entries.filter(isRecord).map((entry) => ({ content: str(entry.content) ?? '', priority: str(entry.priority), status: str(entry.status) }))
            : [];
          return frame('plan', { entries });
        }
        case 'usage_update': {
          const used = typeof update.used === 'number' ? update.used : null;
          const total = typeof update.size === 'number' ? update.size : null;
          const text = used !== null && total !== null ? `Context: ${used} of ${total} tokens` : 'Context usage';
          // A status line, not a row: the text stream stays open around it.
          return [{ kind: 'status', text, tokens: { used, total }, ...(update.cost !== undefined ? { cost: update.cost } : {}) }];
        }
        default:
          return passThrough(update);
      }
    },
  };
}

/** The token counts of a `session/prompt` answer's `usage` (an unstable ACP field), as a status frame. */
export function usageStatus(usage: unknown): Record<string, unknown> | null {
  if (!isRecord(usage)) return null;
  const input = typeof usage.inputTokens === 'number' ? usage.inputTokens : null;
  const output = typeof usage.outputTokens === 'number' ? usage.outputTokens : null;
  const total = typeof usage.totalTokens === 'number' ? usage.totalTokens : null;
  if (input === null && output === null && total === null) return null;
  return { text: `Tokens: ${input ?? '?'} in, ${output ?? '?'} out`, tokens: { input, output, total, cachedRead: usage.cachedReadTokens ?? null } };
}

/**
 * Reads `--agents-file` (JSON; the format is in `agentSpecs.ts`) and merges every source of agents.
 * The only file access of agent configuration, so `agentSpecs.ts` stays pure.
 */
import { readFileSync } from 'node:fs';

import { mergeAgentSpecs, parseAgentsFile, type AgentSpec } from './agentSpecs.js';

/** An agents file is a handful of command lines; anything larger is not one. */
export const MAX_AGENTS_FILE_BYTES = 256 * 1024;

export function readAgentsFile(path: string): AgentSpec[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`--agents-file "${path}" cannot be read: ${(error as Error).message}`);
  }
  if (Buffer.byteLength(text) > MAX_AGENTS_FILE_BYTES) throw new Error(`--agents-file "${path}" is larger than ${MAX_AGENTS_FILE_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`--agents-file "${path}" is not valid JSON: ${(error as Error).message}`);
  }
  return parseAgentsFile(json, `--agents-file "${path}"`);
}

/** The agents of the standalone server: the file's, then those of the command line and env (which win). */
export function resolveStandaloneAgents(options: { agents?: AgentSpec[]; agentsFile?: string }): AgentSpec[] {
  const fromFile = options.agentsFile === undefined ? [] : readAgentsFile(options.agentsFile);
  return mergeAgentSpecs({ source: '--agents-file', specs: fromFile }, { source: '--agent/GATEWAY_AGENTS', specs: options.agents ?? [] });
}

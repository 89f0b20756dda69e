/** The machines docs/machines/ documents, with a one-line summary each. */
import { chatRunMachine } from '../../machines/chatRun.machine.js';
import { chatSessionMachine } from '../../machines/chatSession.machine.js';
import { pluginTunnelMachine } from '../../machines/pluginTunnel.machine.js';
import { shellSessionMachine } from '../../machines/shellSession.machine.js';
import type { ChartSource } from './machineChart.js';

export const CHART_SOURCES: ChartSource[] = [
  {
    name: 'chatSession',
    machine: chatSessionMachine,
    file: 'machines/chatSession.machine.ts',
    summary: 'One app chat session on `/ws`: the only owner of its `seq`, its subscribers and its current run.',
  },
  {
    name: 'chatRun',
    machine: chatRunMachine,
    file: 'machines/chatRun.machine.ts',
    summary: 'One agent run of a chat session: exactly one `complete`, the abort path and the safety net.',
  },
  {
    name: 'shellSession',
    machine: shellSessionMachine,
    file: 'machines/shellSession.machine.ts',
    summary: 'One persistent PTY on `/shell`: viewers, restore, detach timeout, flow control and exit.',
  },
  {
    name: 'pluginTunnel',
    machine: pluginTunnelMachine,
    file: 'machines/pluginTunnel.machine.ts',
    summary: 'One `/plugin-ws/<name>` tunnel: port lookup, pre-open queue, relay, back-pressure, heartbeat and close codes.',
  },
];

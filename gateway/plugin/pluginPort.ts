import { fromPromise } from 'xstate';

import type { PluginPortResult } from '../../machines/pluginTunnel.types.js';
import type { Logger } from '../logger.js';

export type GetPluginPort = (name: string) => number | null | undefined | Promise<number | null | undefined>;

function isTcpPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535;
}

/**
 * The tunnel's port lookup: the host's `getPluginPort`, awaited. Anything that is not a usable
 * TCP port counts as "not running" (null); a host that throws is reported as an error.
 */
export function createPortResolver(getPluginPort: GetPluginPort, logger: Logger) {
  return fromPromise<PluginPortResult, { name: string }>(async ({ input }) => {
    let port: number | null | undefined;
    try {
      port = await getPluginPort(input.name);
    } catch (error) {
      logger.warn('plugin tunnel: getPluginPort threw', { plugin: input.name, error: String(error) });
      throw error;
    }
    if (port === null || port === undefined) return null;
    if (!isTcpPort(port)) {
      logger.warn('plugin tunnel: getPluginPort returned an unusable port', { plugin: input.name, port });
      return null;
    }
    return port;
  });
}

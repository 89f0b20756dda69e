import { isPluginName } from './pluginName.js';

const PORT_DIGITS = /^[0-9]{1,5}$/;

/**
 * Parses the CLI's `--plugin` value, `name=port[,name2=port2…]`, into a name → port map.
 * Whitespace around entries, names and ports is ignored. Anything else that is not a valid
 * entry (empty entry, bad name, port outside 1–65535, duplicate name) throws a TypeError that
 * quotes the offending entry.
 */
export function parsePluginMap(spec: string): Map<string, number> {
  if (typeof spec !== 'string' || spec.trim() === '') {
    throw new TypeError('Plugin map is empty: expected "name=port[,name=port…]"');
  }
  const plugins = new Map<string, number>();
  for (const rawEntry of spec.split(',')) {
    const entry = rawEntry.trim();
    const eq = entry.indexOf('=');
    if (eq === -1) throw new TypeError(`Plugin entry "${entry}" is not "name=port"`);
    const name = entry.slice(0, eq).trim();
    const portText = entry.slice(eq + 1).trim();
    if (!isPluginName(name)) {
      throw new TypeError(`Plugin name "${name}" in "${entry}" must match ^[a-zA-Z0-9_-]+$`);
    }
    const port = PORT_DIGITS.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) {
      throw new TypeError(`Plugin port "${portText}" in "${entry}" must be an integer from 1 to 65535`);
    }
    if (plugins.has(name)) throw new TypeError(`Plugin "${name}" is given more than once`);
    plugins.set(name, port);
  }
  return plugins;
}

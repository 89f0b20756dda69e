/** The route prefix every tunnel path starts with; the router sends everything under it here. */
export const PLUGIN_ROUTE_PREFIX = '/plugin-ws/';

/** Protocol §4. No dots, slashes, percent signs or non-ASCII: a name can never escape its path segment. */
export const PLUGIN_NAME_PATTERN = /^[a-zA-Z0-9_-]+$/;

export function isPluginName(name: string): boolean {
  return PLUGIN_NAME_PATTERN.test(name);
}

/**
 * The plugin name of a `/plugin-ws/<name>` pathname, or null when the path does not name exactly
 * one valid plugin. The name is taken as it appears on the wire, never percent-decoded, so
 * `%2F`, `..%2F` or an encoded unicode name are refused rather than reinterpreted.
 */
export function parsePluginName(pathname: string): string | null {
  if (!pathname.startsWith(PLUGIN_ROUTE_PREFIX)) return null;
  const name = pathname.slice(PLUGIN_ROUTE_PREFIX.length);
  return isPluginName(name) ? name : null;
}

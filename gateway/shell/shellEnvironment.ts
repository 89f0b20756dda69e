/**
 * The environment a PTY inherits: the gateway's own, minus secrets, plus the terminal variables
 * the protocol promises. A shell is user code, so whatever the gateway knows it must not leak.
 */

/** Removed from every PTY's environment even when the host names nothing. */
export const DEFAULT_ENV_DENY_LIST: readonly string[] = ['JWT_SECRET', 'GATEWAY_TOKEN'];

const TERMINAL_ENV = { TERM: 'xterm-256color', COLORTERM: 'truecolor', FORCE_COLOR: '3' } as const;

/**
 * A name matches an entry exactly, or by prefix when the entry ends with `*` (`AWS_*`).
 * Matching is case-sensitive, as variable names are on POSIX.
 */
export function createEnvDenyMatcher(extra: readonly string[] = []): (name: string) => boolean {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const entry of [...DEFAULT_ENV_DENY_LIST, ...extra]) {
    if (entry.endsWith('*')) prefixes.push(entry.slice(0, -1));
    else exact.add(entry);
  }
  return (name) => exact.has(name) || prefixes.some((prefix) => name.startsWith(prefix));
}

export function buildPtyEnvironment(
  source: NodeJS.ProcessEnv,
  isDenied: (name: string) => boolean,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(source)) {
    if (value !== undefined && !isDenied(name)) env[name] = value;
  }
  return { ...env, ...TERMINAL_ENV };
}

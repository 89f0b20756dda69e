/**
 * Masks what looks like a credential before agent output reaches a log or a frame: an agent's
 * stderr can echo its API key, an `Authorization` header or an OAuth token in an error.
 */
const PATTERNS: RegExp[] = [
  // Anthropic/OpenAI-style keys and GitHub tokens: a known prefix and a long tail.
  /\b(?:sk|rk|pk)-[A-Za-z0-9_-]{12,}/g,
  /\bgh[pousr]_[A-Za-z0-9]{20,}/g,
  /\bAIza[0-9A-Za-z_-]{20,}/g,
  // Bearer/Basic credentials in headers.
  /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi,
  // key=value and "key": "value" for names that hold secrets.
  /((?:api[_-]?key|token|secret|password|passwd|authorization|credential)s?["']?\s*[:=]\s*["']?)[^\s"',;]{4,}/gi,
  // Long opaque strings (JWTs, hex or base64 secrets).
  /\b[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{8,}\b/g,
  /\b[A-Fa-f0-9]{40,}\b/g,
];

export function redactSecrets(text: string): string {
  let out = text;
  for (const pattern of PATTERNS) {
    out = out.replace(pattern, (match: string, prefix?: unknown) =>
      typeof prefix === 'string' && match.startsWith(prefix) && /[:=]/.test(prefix) ? `${prefix}[redacted]` : '[redacted]',
    );
  }
  return out;
}

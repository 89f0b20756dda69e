// Small DOM helpers the playground's modules share.

/** An element with an optional class and text (text is set as text, never parsed as HTML). */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A session id short enough for a list row: its first 8 and last 4 characters. */
export const shortId = (id) => (id.length > 13 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id);

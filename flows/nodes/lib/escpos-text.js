'use strict';
// Plain text to ESC/POS for labels and reports printed from a flow. The
// devices process renders receipts and kitchen tickets itself; these go as
// `raw` print jobs, so they stay simple: init, code page 437, lines, feed, cut.

const ESC = 0x1b;
const GS = 0x1d;

/**
 * @param {string[]} lines
 * @param {{ title?: string, columns?: number }} [opts]
 * @returns {Buffer}
 */
function textJob(lines, opts = {}) {
  const columns = opts.columns ?? 42;
  /** @type {number[]} */
  const out = [ESC, 0x40, ESC, 0x74, 0x00];
  const text = (/** @type {string} */ s) => {
    for (const ch of s.normalize('NFKD')) {
      const c = ch.charCodeAt(0);
      if (c >= 0x20 && c < 0x7f) out.push(c);
      else if (c >= 0x300 && c < 0x370)
        continue; // combining accent dropped after NFKD
      else out.push(0x3f);
    }
    out.push(0x0a);
  };
  if (opts.title) {
    out.push(ESC, 0x61, 0x01, ESC, 0x45, 0x01, GS, 0x21, 0x11);
    text(opts.title);
    out.push(GS, 0x21, 0x00, ESC, 0x45, 0x00, ESC, 0x61, 0x00);
  }
  for (const line of lines) {
    let rest = String(line);
    do {
      text(rest.slice(0, columns));
      rest = rest.slice(columns);
    } while (rest.length > 0);
  }
  out.push(ESC, 0x64, 0x04, GS, 0x56, 0x42, 0x00);
  return Buffer.from(out);
}

module.exports = { textJob };

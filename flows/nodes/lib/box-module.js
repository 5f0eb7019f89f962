'use strict';
// The box's own modules (contract/, lib/) for these CommonJS nodes: the
// TypeScript sources in a checkout, the compiled JavaScript on the image and
// in the Dockerfile (scripts/compile-js.sh removes the .ts files).
const { existsSync } = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '../../..');

/** @param {string} name path from the repository root without extension, e.g. 'contract/topics' */
function requireBoxModule(name) {
  const js = path.join(ROOT, `${name}.js`);
  return require(existsSync(js) ? js : path.join(ROOT, `${name}.ts`));
}

module.exports = { requireBoxModule };

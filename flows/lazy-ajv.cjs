'use strict';
// What Node-RED's JSON node (@node-red/nodes 5.0.7, core/parsers/70-JSON.js)
// gets for `require('ajv')` in the flows process (flows/runtime.ts redirects
// that one require here). The node builds an Ajv and adds the draft-06 meta
// schema when its module loads, which compiles two meta schemas: ~135 ms of
// the flows process's CPU to ready in a profile (issue 14), paid on every
// start for a feature (msg.schema validation) that few flows use. This Ajv
// is the real one, created with the same options and meta schemas on its
// first use instead.
const Ajv = require('ajv');

function LazyAjv(options) {
  let real;
  const metaSchemas = [];
  const materialise = () => {
    if (!real) {
      real = new Ajv(options);
      for (const args of metaSchemas) real.addMetaSchema(...args);
    }
    return real;
  };
  const lazy = new Proxy(
    {},
    {
      get(_target, prop) {
        if (prop === 'addMetaSchema' && !real) {
          return (...args) => {
            metaSchemas.push(args);
            return lazy;
          };
        }
        const ajv = materialise();
        const value = ajv[prop];
        return typeof value === 'function' ? value.bind(ajv) : value;
      },
    },
  );
  return lazy;
}

module.exports = LazyAjv;

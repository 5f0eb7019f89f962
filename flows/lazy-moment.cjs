'use strict';
// What Node-RED's util (@node-red/util 5.0.7, lib/util.js) gets for
// `require('moment-timezone')` in the flows process (flows/runtime.ts
// redirects that one require here). It needs moment only for JSONata's
// $moment and for inject/change nodes' formatted dates, yet requiring it at
// load parses moment and the whole zone table (moment-timezone
// data/packed/latest.json, 727 kB): 15-40 ms and ~9 MB of RSS (3 MB of heap)
// in a bare Node, paid on every start (issue 14). This is moment, loaded on
// its first call or property read.
let real;
const load = () => {
  real ??= require('moment-timezone');
  return real;
};

module.exports = new Proxy(function moment() {}, {
  apply: (_target, thisArg, args) => Reflect.apply(load(), thisArg, args),
  get: (_target, prop) => load()[prop],
  has: (_target, prop) => prop in load(),
});

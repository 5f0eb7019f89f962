// Guard for npm scripts: the product runs on Node 24 LTS. npm puts
// node_modules/.bin first on PATH, where the `node` package installed Node 24,
// so this only fails when that install step was skipped.
const major = Number(process.versions.node.split('.')[0]);
if (major !== 24) {
  console.error(
    `tillbox needs Node 24 LTS, but this is Node ${process.versions.node} (${process.execPath}).\n` +
      'Run `npm ci` so the pinned Node 24 from the `node` package lands in node_modules/.bin, ' +
      'then use the npm scripts (npm start, npm test), which put it first on PATH.',
  );
  process.exit(1);
}

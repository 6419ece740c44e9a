#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=1048576 node --max-semi-space-size=4
// Entry point. The shebang (and `npm start`) cap V8's young generation at 4 MiB per semi-space:
// the default grows it to tens of MiB under load, which measured as +60 MiB of RSS and no
// throughput gained on the forward-auth path (bench/README.md). NODE_OPTIONS can override.
// MALLOC_MMAP_THRESHOLD_ (glibc; the image sets it too) gives every allocation of 1 MiB or more
// a mapping of its own, returned to the system when freed. Without it glibc raises the threshold
// after the first argon2id block (19 MiB) is freed and keeps the next ones in the hashing
// thread's heap for good: measured +20 MiB after the first sign-ins (docs/benchmarks.md).
// Kept to syntax every Node.js release parses, so an old runtime (a global `npx`
// outside the project, say) gets one clear line instead of a syntax error from TypeScript.
'use strict';
var REQUIRED_MAJOR = 24;
var found = process.versions.node;
var major = parseInt(found.split('.')[0], 10);
if (!(major >= REQUIRED_MAJOR)) {
  // Inside the checkout, `npm start` runs node_modules/.bin/node (the `node` package) first; when
  // an older Node.js answers instead, that binary is missing: npm installed the package without
  // running its install script (npm 11 skips scripts that package.json's allowScripts does not
  // approve, and older checkouts did not approve it).
  var fs = typeof process.getBuiltinModule === 'function' ? process.getBuiltinModule('node:fs') : undefined;
  var projectNode = new URL('../node_modules/.bin/node', import.meta.url);
  var inCheckout = fs !== undefined && fs.existsSync(new URL('../package.json', import.meta.url));
  if (inCheckout && !fs.existsSync(projectNode)) {
    process.stderr.write(
      'gatehouse: Node.js ' +
        REQUIRED_MAJOR +
        ' is missing from node_modules (found only Node.js ' +
        found +
        "): the `node` package's install script did not run; run `npm install` again (package.json's allowScripts approves it)\n",
    );
  } else {
    process.stderr.write(
      'gatehouse: found Node.js ' +
        found +
        ', needs Node.js ' +
        REQUIRED_MAJOR +
        ' or newer (run it through the project: `npm start`, or `npx gatehouse` inside the checkout)\n',
    );
  }
  process.exit(1);
}
// Node's compile cache keeps the stripped TypeScript and its bytecode on disk: after the first
// start, the type-stripping compiler is never loaded, which starts faster and saves about 50 MiB
// of resident memory (measured: 171 MiB -> 119 MiB idle). NODE_COMPILE_CACHE picks the
// directory (default: the system temp dir); a read-only disk just means no cache.
process.getBuiltinModule('node:module').enableCompileCache();
// node:sqlite is stable in use but still flagged experimental; its one-line warning on every
// start would only worry operators. Other warnings pass through.
var emitWarning = process.emitWarning;
process.emitWarning = function (warning, type) {
  var name = type && typeof type === 'object' ? type.type : type;
  if (name === 'ExperimentalWarning' && String((warning && warning.message) || warning).indexOf('SQLite') !== -1) return;
  return emitWarning.apply(process, arguments);
};
import('../src/main.ts')
  .then(function (m) {
    return m.main(process.argv.slice(2));
  })
  .then(
    function (code) {
      if (typeof code === 'number') process.exitCode = code;
    },
    function (err) {
      process.stderr.write('gatehouse: ' + (err && err.message ? err.message : String(err)) + '\n');
      process.exitCode = 1;
    },
  );

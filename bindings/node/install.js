'use strict';
// `npm install ./bindings/node` (from the repository): build the native
// module offline with CMake from this checkout, unless a build is already
// there (index.js looks in the same places). Nothing is downloaded: SWIG and
// the installed Node headers are all it needs (scripts/install-deps.sh).
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..', '..');
const built = [
  path.join(__dirname, 'xfutures_native.node'),
  path.join(__dirname, 'build', 'bindings', 'node', 'xfutures', 'xfutures_native.node'),
];
if (built.some((p) => fs.existsSync(p)) && !process.env.XF_NODE_REBUILD) process.exit(0);
if (!fs.existsSync(path.join(root, 'core', 'include', 'xf', 'xf.h'))) {
  console.error('xfutures: install from a checkout of the repository: npm install ./bindings/node');
  process.exit(1);
}

function run(args) {
  const r = spawnSync('cmake', args, { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status || 1);
}

const out = path.join(__dirname, 'build');
run(['-S', root, '-B', out, '-DCMAKE_BUILD_TYPE=Release', '-DXF_NODE=ON', '-DXF_PYTHON=OFF',
  '-DXF_LUA=OFF', '-DXF_TESTS=OFF', '-DXF_EXAMPLES=OFF', '-DXF_BENCH=OFF']);
run(['--build', out, '--target', 'xfutures_node', '-j', '2']);

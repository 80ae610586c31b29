#!/usr/bin/env bash
# Checks bindings/node/index.d.ts with TypeScript, at the version the
# binding's package-lock.json pins: installs it (npm ci) into a work folder of
# the build tree, then compiles tests/node/types.ts against the declarations.
# Usage: check-types.sh <bindings/node source dir> <work dir>
set -euo pipefail
src=$(cd "${1:?usage: check-types.sh <src> <work>}" && pwd)
work=${2:?usage: check-types.sh <src> <work>}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
cp "$src/package.json" "$src/package-lock.json" "$work/"
cd "$work"
if [[ ! -x node_modules/.bin/tsc ]] || ! cmp -s package-lock.json node_modules/.package-lock.json.src; then
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.package-lock.json.src
fi
cat > tsconfig.json <<JSON
{
  "compilerOptions": {
    "strict": true, "noEmit": true, "target": "es2022", "module": "commonjs",
    "moduleResolution": "node", "types": [], "lib": ["es2022"], "baseUrl": ".",
    "paths": { "xfutures": ["$src/index.d.ts"] }
  },
  "files": ["$here/types.ts"]
}
JSON
node_modules/.bin/tsc -p tsconfig.json
echo "1 passed, 0 failed"

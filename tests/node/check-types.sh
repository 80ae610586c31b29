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

# The README's JavaScript, as a user copies it: every \`\`\`js block and the
# script of each \`node -e "..."\`, checked (checkJs, strict) against the
# declarations, with the few Node globals they use declared here.
readme=$here/../../README.md
rm -rf readme && mkdir readme
node - "$readme" readme <<'NODE'
const fs = require('fs');
const [readme, out] = process.argv.slice(2);
const text = fs.readFileSync(readme, 'utf8');
const blocks = [...text.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
for (const m of text.matchAll(/node -e "\n([\s\S]*?)\n"/g)) blocks.push(m[1]);
blocks.forEach((b, i) => fs.writeFileSync(`${out}/example_${i}.js`, b));
console.log(`${blocks.length} README examples`);
NODE
cat > readme/globals.d.ts <<'TS'
declare const console: { log(...args: unknown[]): void };
declare const AbortController: {
  new (): { readonly signal: import('xfutures').AbortSignalLike; abort(reason?: unknown): void };
};
declare const __filename: string;
declare const module: unknown;
declare const require: { main: unknown };
TS
cat > tsconfig.readme.json <<JSON
{
  "compilerOptions": {
    "strict": true, "noEmit": true, "allowJs": true, "checkJs": true, "target": "es2022",
    "module": "commonjs", "moduleResolution": "node", "types": [], "lib": ["es2022"],
    "baseUrl": ".", "paths": { "xfutures": ["$src/index.d.ts"] }
  },
  "include": ["readme/*.js", "readme/globals.d.ts"]
}
JSON
node_modules/.bin/tsc -p tsconfig.readme.json
echo "2 passed, 0 failed"

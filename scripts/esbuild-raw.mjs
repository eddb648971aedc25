// `import text from 'some/file?raw'` as vite (and so vitest) reads it: the file's text as a
// string. Every esbuild build of src/ uses this plugin (src/nix/xz-wasm.ts needs it).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export const rawText = {
  name: 'raw-text',
  setup(build) {
    build.onResolve({ filter: /\?raw$/ }, (args) => ({
      path: createRequire(join(args.resolveDir, 'resolve-from')).resolve(args.path.slice(0, -'?raw'.length)),
      namespace: 'raw-text',
    }));
    build.onLoad({ filter: /.*/, namespace: 'raw-text' }, (args) => ({ contents: readFileSync(args.path, 'utf8'), loader: 'text' }));
  },
};

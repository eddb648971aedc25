// For CommonJS bundles that main.ts and oci-main.cjs load through a V8-cached vm.Script
// (src/cli/code-cache.ts): there, `import('node:tls')` throws ("A dynamic import callback was
// not specified"), and Node 20 loses the vm option that would allow it once the script comes
// from the code cache. So a dynamic import of a built-in becomes a bundled module that
// require()s it on first use.
export const builtinsViaRequire = {
  name: 'builtins-via-require',
  setup(build) {
    build.onResolve({ filter: /^node:/ }, (args) => (args.kind === 'dynamic-import' ? { path: args.path, namespace: 'builtin-require' } : undefined));
    build.onLoad({ filter: /.*/, namespace: 'builtin-require' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js' }));
  },
};

// Entry of dist/oci.cjs: the OCI path as one CommonJS bundle, so that main.ts can compile it
// with a V8 code cache (Node 20 has no compile cache for ES modules).
export { runOci } from './oci.js';

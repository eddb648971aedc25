// Which run may write the OCI path's V8 code cache. The cache holds the code a run compiled, and
// it is written once: trained by a cold start it also carries git fetching and NAR unpacking
// (~750 KB instead of ~420 KB, several ms more to load at every start); trained by a failed
// create it lacks the activation code. So only a warm activation that reached the delegate
// writes it, the start every pod after the first one makes. A flag in the global symbol
// registry: the loader (dist/oci-main.cjs) and the OCI bundle (dist/oci.cjs) share no module.
const KEY = Symbol.for('flox-runtime.code-cache.warm-run');

export function markWarmRun(): void {
  (globalThis as Record<symbol, unknown>)[KEY] = true;
}

export function wasWarmRun(): boolean {
  return (globalThis as Record<symbol, unknown>)[KEY] === true;
}

// Environments on the node: which store paths a generation links, the rendered run/dev profile,
// and the activation plan that turns a container's process into an activated one.
export { selectPackages, storePathsOf } from './select.js';
export type { SelectedOutput, SelectedPackage, SelectedPackages, Selectable } from './select.js';
export { renderEnvironment, renderKey, RENDER_VERSION } from './render.js';
export type { Mode, RenderOptions, RenderResult } from './render.js';
export { planActivation, parseEnvList, toEnvList, DEFAULT_PATH } from './plan.js';
export type { ActivationPlan, PlanOptions } from './plan.js';
export { activationFiles, ACTIVATE, ATTACH, ACTIVATED_ENV, CACHE_MOUNT, ENV_MOUNT, STATE_DIR } from './scripts.js';
export type { TreeFacts } from './render.js';
export { readTreeFacts, treeFacts } from './render.js';

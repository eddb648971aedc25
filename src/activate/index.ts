// The activator the wrapper uses: the full pipeline of src/activate/pipeline.ts.
export { activateContainer as activate } from './pipeline.js';

// unbzip2-stream ships no types: a factory for a through stream (bzip2 in, raw bytes out).
declare module 'unbzip2-stream' {
  import type { Duplex } from 'node:stream';
  function unbzip2Stream(): Duplex;
  export default unbzip2Stream;
}

// A file's text, as vitest reads `?raw` imports and scripts/esbuild-raw.mjs makes esbuild do.
declare module '*?raw' {
  const text: string;
  export default text;
}

/** A decompressor failed: the compressed file is corrupt (or not what it claims). */
export class DecompressError extends Error {}

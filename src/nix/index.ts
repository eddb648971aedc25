// Node store: realise Nix closures from signed binary caches with no Nix on the node.
export { realiseClosure } from './realise.js';
export type { RealiseEvent, RealiseOptions, RealiseResult } from './realise.js';
export { realiseWithHostNix } from './host-nix.js';
export type { HostNixOptions } from './host-nix.js';
export { nodeStoreDir, hostPathOf, readPathMeta, addUser, removeUser, isValidPath, metaDir, lockDir, tmpDir } from './node-store.js';
export type { PathMeta, PathRecord } from './node-store.js';
export { parseStorePath, parseStoreBasename, storeBasenameError, makeStorePath, contentAddressedPath, parseContentAddress, STORE_DIR } from './store-path.js';
export type { StorePath, ContentAddress } from './store-path.js';
export { nix32Encode, nix32Decode } from './base32.js';
export { parseHash, formatNix32 } from './hash.js';
export { parseNarInfo, parseCacheInfo, fingerprint } from './narinfo.js';
export type { NarInfo, CacheInfo, Compression } from './narinfo.js';
export { parsePublicKey, validSigners, signFingerprint } from './signature.js';
export { unpackNar } from './nar.js';
export { logRealiseEvents } from './events.js';

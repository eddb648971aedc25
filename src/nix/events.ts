// Turns realise events into log lines: progress is summarised, everything else is one line.
import type { Logger } from '../log/logger.js';
import type { RealiseEvent } from './realise.js';

/** An onEvent callback that logs through `logger`; progress at most every `progressEveryMs`. */
export function logRealiseEvents(logger: Logger, progressEveryMs = 1000): (e: RealiseEvent) => void {
  let lastProgress = 0;
  return (e) => {
    switch (e.type) {
      case 'progress': {
        const now = Date.now();
        if (now - lastProgress < progressEveryMs) return;
        lastProgress = now;
        logger.debug('nix: downloading', { bytes: e.totalBytes, of: e.totalFileBytes });
        return;
      }
      case 'retry':
        logger.warn('nix: retrying', { path: e.path, attempt: e.attempt, delayMs: e.delayMs, error: e.error });
        return;
      case 'fallback':
        logger.warn('nix: trying the next substituter', { path: e.path, from: e.from, to: e.to, error: e.error });
        return;
      case 'substituter':
        if (e.error) logger.warn('nix: substituter unusable', { url: e.url, error: e.error });
        else logger.debug('nix: substituter', { url: e.url, priority: e.priority });
        return;
      case 'closure':
        logger.info('nix: closure', { paths: e.paths.length, missing: e.missing.length, narBytes: e.narBytes, fileBytes: e.fileBytes });
        return;
      case 'path-done':
        logger.info('nix: fetched', { path: e.path, substituter: e.substituter, fileBytes: e.fileBytes, narBytes: e.narBytes, ms: e.ms });
        return;
      default:
        logger.trace(`nix: ${e.type}`, { path: e.path });
    }
  };
}

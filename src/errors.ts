// One error type for everything the runtime reports to users. `kind` lets callers and tests
// tell failures apart without matching on message text; `message` is what kubectl shows.
export type FloxErrorKind =
  | 'config'
  | 'usage'
  | 'annotation'
  | 'policy'
  | 'spec'
  | 'delegate'
  | 'activation'
  | 'floxhub-not-found'
  | 'floxhub-auth'
  | 'floxhub-unreachable'
  | 'floxhub-generation'
  | 'floxhub-malformed'
  | 'lock'
  | 'render'
  | 'nix-format'
  | 'nix-signature'
  | 'nix-hash'
  | 'nix-nar'
  | 'nix-fetch'
  | 'nix-missing'
  | 'store'
  | 'install'
  | 'internal';

export class FloxError extends Error {
  override readonly name = 'FloxError';
  constructor(
    readonly kind: FloxErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isFloxError(e: unknown): e is FloxError {
  return e instanceof FloxError;
}

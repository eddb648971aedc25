// The FloxHub branch-head check, started as early as possible. It is the one network round trip
// of a warm container start, and it needs only the config, the annotation and the token: the
// OCI path sends it before loading the activation machinery (tens of ms of module set-up), so
// the two overlap. resolveEnvironment then takes the answer instead of asking again.
import { type HttpOptions, listRefs } from './smart-http.js';

export interface HeadCheck {
  /** the floxmeta repository asked */
  repoUrl: string;
  /** the token it was asked with: the answer serves only a resolve with the same token */
  token: string | undefined;
  /** the refs, or the HubError the ask failed with (handled where it is awaited) */
  refs: Promise<Map<string, string>>;
  /** settles once the request is written (or failed): until then the event loop must run */
  sent: Promise<void>;
}

/** The owner's floxmeta repository on the hub: `<git-url>/<owner>/floxmeta`. */
export function floxmetaUrl(gitUrl: string, owner: string): string {
  return `${gitUrl.replace(/\/+$/, '')}/${owner}/floxmeta`;
}

export function startHeadCheck(gitUrl: string, owner: string, opts: HttpOptions): HeadCheck {
  const repoUrl = floxmetaUrl(gitUrl, owner);
  let markSent!: () => void;
  const sent = new Promise<void>((r) => (markSent = r));
  const refs = listRefs(repoUrl, { ...opts, onSent: markSent });
  void refs.then(markSent, markSent);
  // awaited later, or never (activation failed first): never an unhandled rejection
  refs.catch(() => {});
  return { repoUrl, token: opts.token, refs, sent };
}

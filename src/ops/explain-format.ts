// Human text for `explain` (pure, snapshot-tested).
import type { BundleExplanation, ContainerExplanation, SpecView } from './explain.js';

function specLines(v: SpecView): string[] {
  const out = ['mounts:'];
  if (!v.mounts.length) out.push('  (none under /nix or /run/flox)');
  for (const m of v.mounts) out.push(`  ${m.destination} <- ${m.source ?? '(none)'} [${m.type ?? 'bind'}${m.options?.length ? `: ${m.options.join(',')}` : ''}]`);
  out.push('env:');
  for (const e of v.env) out.push(`  ${e}`);
  if (!v.env.length) out.push('  (unchanged)');
  out.push(`args: ${JSON.stringify(v.args)}`);
  return out;
}

export function formatBundleExplanation(x: BundleExplanation): string {
  const out = [`bundle:    ${x.bundle}`, `container: ${x.container}`, `decision:  ${x.decision} — ${x.reason}`];
  if (x.environment) out.push(`environment: ${x.environment} (mode ${x.mode})`);
  if (x.policy) {
    const p = x.policy;
    const leaves = [...(p.nodeToken === false ? ['no node token'] : []), ...(p.substituters ? [`substituters ${p.substituters.join(', ')}`] : [])];
    if (p.rule === 'no policy') out.push('policy:    none configured ([policy]): every pod may use everything');
    else out.push(p.allowed ? `policy:    allowed by ${p.rule}${leaves.length ? ` (${leaves.join('; ')})` : ''}` : `policy:    refused by ${p.rule}: ${p.reason}`);
  }
  if (x.error) out.push(`would fail: ${x.error.message} [${x.error.kind}]`);
  if (x.plan) {
    const s = x.plan.summary;
    const dry = (s.dryRun ?? {}) as { missingPaths?: string[]; renderKey?: string; rendered?: boolean };
    out.push(`generation: ${x.plan.generation} (commit ${x.plan.commit.slice(0, 12)}${s.hubCache ? ', from the node cache' : ''}${s.stale ? `, stale: ${String(s.stale)}` : ''})`);
    out.push(`closure:   ${String(s.paths)} paths known on the node, ${dry.missingPaths?.length ?? 0} to fetch`);
    out.push(`profile:   ${dry.renderKey ?? '?'} (${dry.rendered ? 'rendered' : 'would be rendered'})`);
    if (Array.isArray(s.shell)) out.push(`shell:     needed for ${(s.shell as string[]).join(', ')}`);
    if (Array.isArray(s.provided) && s.provided.length) out.push(`provided:  ${(s.provided as string[]).join(', ')}`);
    out.push(...specLines(x.plan.spec));
  }
  return out.join('\n');
}

export function formatContainerExplanation(x: ContainerExplanation): string {
  const out = [`container: ${x.id} (root ${x.root})`];
  if (x.bundle) out.push(`bundle:    ${x.bundle}`);
  if (x.record) out.push(`record:    ${x.record.environment} generation ${x.record.generation}; exec wraps with ${JSON.stringify(x.record.wrapArgs)}`);
  if (x.activated) {
    const a = x.activated;
    out.push(`activated: ${String(a.time ?? '')} ${String(a.environment)} generation ${String(a.generation)} (commit ${String(a.commit ?? '').slice(0, 12)}), ${String(a.paths)} paths, ${String(a.pathsFetched)} fetched, profile ${String(a.rendered)}, ${String(a.ms ?? '?')} ms${a.policy !== undefined ? `, policy ${String(a.policy)}` : ''}`);
  }
  if (x.spec) out.push(...specLines(x.spec));
  for (const n of x.notes) out.push(`note: ${n}`);
  return out.join('\n');
}

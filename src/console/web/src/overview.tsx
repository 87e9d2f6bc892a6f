// Every plan at a glance, failing plans first (the server orders them): Ready, the RPO now and over the last hour,
// objects, held deletes, drift, the last commit. Live: the page's one event stream replaces it on every change.
import type * as Api from '../../api.ts';
import { Ago, ReadyBadge, seconds, Sparkline } from './components.tsx';
import { href } from './router.ts';

export function Overview({ overview }: { overview: Api.Overview }) {
  if (!overview.plans.length) {
    return <p class="empty">No plans yet. Add one with <code>lifeboat plan apply</code> or a RecoveryPlan resource; it appears here as soon as it runs.</p>;
  }
  const notReady = overview.plans.filter((plan) => plan.ready.status !== 'True').length;
  return (
    <section>
      <p class="summary" data-testid="summary">
        {overview.plans.length} plan{overview.plans.length === 1 ? '' : 's'}
        {notReady ? <span class="bad"> · {notReady} not ready</span> : <span class="ok"> · all ready</span>}
      </p>
      <table class="plans" data-testid="plans">
        <thead>
          <tr><th>Plan</th><th>Status</th><th class="num">RPO now</th><th>Last hour</th><th class="num">Objects</th><th class="num">Held deletes</th><th class="num">Drift</th><th>Last commit</th></tr>
        </thead>
        <tbody>
          {overview.plans.map((plan) => (
            <tr key={plan.name} data-plan={plan.name} class={plan.ready.status === 'True' ? '' : 'failing'}>
              <td><a href={href({ page: 'plan', plan: plan.name })}>{plan.name}</a></td>
              <td><ReadyBadge ready={plan.ready} />{plan.failedOver && <span class="badge warn">failed over ({plan.failedOver})</span>}</td>
              <td class="num" data-field="lag">{seconds(plan.lagSeconds)}</td>
              <td><Sparkline samples={plan.lagHistory} /></td>
              <td class="num" data-field="objects">{plan.objects}</td>
              <td class="num" data-field="held">
                {plan.heldDeletes ? <a class="bad" href={href({ page: 'deletes', plan: plan.name })}>{plan.heldDeletes}</a> : 0}
              </td>
              <td class="num" data-field="drift">{plan.drift ? <span class="warn">{plan.drift}</span> : 0}</td>
              <td class="commit">
                {plan.lastCommit ? <><code>{plan.lastCommit.revision.slice(0, 8)}</code> {plan.lastCommit.summary} · <Ago time={plan.lastCommit.time} /></> : '—'}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

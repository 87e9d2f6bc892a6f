// Prometheus and promtool for the monitoring tests: built from their Go module by hack/build-bins.sh next to the
// sandbox's binaries; and the rule file that manifests/monitoring's PrometheusRule carries as its spec.
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { sandbox } from './sandbox.ts';

const repoRoot = new URL('../../', import.meta.url).pathname;

export interface RuleFile {
  groups: { name: string; rules: { alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }[] }[];
}

/** The binary (`promtool`, `prometheus`) beside the sandbox's kube-apiserver; a clear error when it was not built. */
export async function prometheusBinary(name: 'promtool' | 'prometheus'): Promise<string> {
  const info = await sandbox();
  const file = path.join(info.binDir ?? '', name);
  if (!fs.existsSync(file)) throw new Error(`${name} not found in ${info.binDir ?? '(no binary directory)'}: run bash hack/build-bins.sh (it builds it from the Prometheus Go module)`);
  return file;
}

/** The spec of manifests/monitoring/prometheus-rule.yaml: a Prometheus rule file. */
export function ruleFile(): RuleFile {
  const rule = parse(fs.readFileSync(path.join(repoRoot, 'manifests/monitoring/prometheus-rule.yaml'), 'utf8')) as { spec: RuleFile };
  return rule.spec;
}

/** Every panel's PromQL expressions of the Grafana dashboard, with the panel's title. */
export function dashboardQueries(): { title: string; expr: string }[] {
  const dashboard = JSON.parse(fs.readFileSync(path.join(repoRoot, 'manifests/monitoring/grafana/lifeboat-dashboard.json'), 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
  return dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ title: panel.title, expr: target.expr })));
}

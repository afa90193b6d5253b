/**
 * runs/x/report.html: one self-contained page (inline SVG, no network) with the loss and
 * accuracy curves and the run's configuration, rewritten at every checkpoint.
 */
import { writeFileAtomic } from '../checkpoint/atomic';

export interface MetricRow {
  type: 'train' | 'eval';
  step: number;
  [k: string]: number | string | boolean;
}

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

interface Series {
  name: string;
  color: string;
  points: [number, number][];
}

function chart(title: string, series: Series[], opts: { log?: boolean; min?: number; max?: number } = {}): string {
  const W = 560, H = 240, L = 52, R = 12, T = 24, B = 30;
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y) && (!opts.log || y > 0));
  if (all.length === 0) return `<figure><figcaption>${esc(title)}</figcaption><p>no data yet</p></figure>`;
  const tf = (y: number) => (opts.log ? Math.log10(y) : y);
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => tf(y));
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  const y0 = opts.min ?? Math.min(...ys), y1raw = opts.max ?? Math.max(...ys);
  const y1 = y1raw === y0 ? y0 + 1 : y1raw;
  const px = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y: number) => T + (1 - (tf(y) - y0) / (y1 - y0)) * (H - T - B);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => y0 + f * (y1 - y0));
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">`;
  svg += `<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="#fafafa" stroke="#ccc"/>`;
  for (const t of ticks) {
    const y = T + (1 - (t - y0) / (y1 - y0)) * (H - T - B);
    const label = opts.log ? (10 ** t).toPrecision(3) : t.toPrecision(3);
    svg += `<line x1="${L}" x2="${W - R}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#eee"/><text x="${L - 4}" y="${(y + 4).toFixed(1)}" font-size="10" text-anchor="end">${label}</text>`;
  }
  svg += `<text x="${L}" y="${H - 8}" font-size="10">${x0}</text><text x="${W - R}" y="${H - 8}" font-size="10" text-anchor="end">step ${x1}</text>`;
  series.forEach((s, i) => {
    const pts = s.points.filter(([, y]) => Number.isFinite(y) && (!opts.log || y > 0));
    if (pts.length === 0) return;
    const d = pts.map(([x, y], j) => `${j ? 'L' : 'M'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join('');
    svg += `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`;
    if (pts.length === 1) svg += `<circle cx="${px(pts[0]![0]).toFixed(1)}" cy="${py(pts[0]![1]).toFixed(1)}" r="3" fill="${s.color}"/>`;
    svg += `<text x="${L + 8 + i * 150}" y="${T - 8}" font-size="11" fill="${s.color}">${esc(s.name)}</text>`;
  });
  svg += '</svg>';
  return `<figure><figcaption>${esc(title)}</figcaption>${svg}</figure>`;
}

/** Writes report.html for a run from its metrics rows and configuration. */
export function writeReport(file: string, rows: MetricRow[], config: Record<string, unknown>, summary: Record<string, unknown> = {}): void {
  const train = rows.filter((r) => r.type === 'train');
  const evals = rows.filter((r) => r.type === 'eval');
  const s = (rs: MetricRow[], k: string): [number, number][] => rs.map((r) => [r.step, Number(r[k])]);
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>electra-node run report</title>
<style>body{font:14px system-ui,sans-serif;margin:24px;max-width:1200px}figure{display:inline-block;margin:8px}
figcaption{font-weight:600;margin-bottom:4px}pre{background:#f6f6f6;padding:12px;overflow:auto}td,th{padding:2px 10px;text-align:left}</style></head>
<body><h1>electra-node pre-training run</h1>
<p>Updated ${esc(new Date().toISOString())}. ${train.length} logged steps, ${evals.length} evaluations.</p>
<table>${Object.entries(summary).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(String(v))}</td></tr>`).join('')}</table>
${chart('Loss (train, log scale)', [{ name: 'total', color: '#1f77b4', points: s(train, 'loss') }, { name: 'MLM', color: '#ff7f0e', points: s(train, 'mlmLoss') }, { name: 'RTD x 50', color: '#2ca02c', points: train.map((r) => [r.step, Number(r.rtdLoss) * 50]) }], { log: true })}
${chart('Accuracy (train)', [{ name: 'discriminator', color: '#1f77b4', points: s(train, 'discriminatorAccuracy') }, { name: 'generator', color: '#ff7f0e', points: s(train, 'generatorAccuracy') }], { min: 0, max: 1 })}
${chart('Replaced tokens (held-out)', [{ name: 'precision', color: '#d62728', points: s(evals, 'replacedPrecision') }, { name: 'recall', color: '#9467bd', points: s(evals, 'replacedRecall') }, { name: 'ROC AUC', color: '#17becf', points: s(evals, 'replacedAuc') }], { min: 0, max: 1 })}
${chart('Loss (held-out)', [{ name: 'total', color: '#1f77b4', points: s(evals, 'loss') }, { name: 'MLM', color: '#ff7f0e', points: s(evals, 'mlmLoss') }], { log: true })}
<h2>Configuration</h2><pre>${esc(JSON.stringify(config, null, 2))}</pre>
</body></html>
`;
  writeFileAtomic(file, [html]);
}

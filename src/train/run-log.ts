/**
 * metrics.jsonl of a pre-training run: one JSON row per logged step and per evaluation, written
 * by the lead rank only. On resume the rows up to the checkpoint's step are kept and the file is
 * rewritten with them, so that a run killed after its last checkpoint logs no step twice.
 */
import * as fs from 'node:fs';
import { ioStep } from '../util/files';
import type { MetricRow } from './report';
import type { StepMetrics } from './pretrainer';

/** The rows of `file` up to step `upTo` (a line cut by a kill is dropped). */
export function readMetrics(file: string, upTo: number): MetricRow[] {
  if (!fs.existsSync(file)) return [];
  const rows: MetricRow[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as MetricRow;
      if (r.step <= upTo) rows.push(r);
    } catch {
      // A line cut by a kill; dropped on rewrite.
    }
  }
  return rows;
}

export class MetricsLog {
  /**
   * @param file metrics.jsonl
   * @param rows the rows kept from before (resume)
   * @param lead whether this process writes (rank 0); other ranks log nothing
   */
  constructor(
    readonly file: string,
    readonly rows: MetricRow[],
    private readonly lead: boolean,
  ) {}

  /** Writes the kept rows as the whole file (creating or truncating it). */
  rewrite(): void {
    if (!this.lead) return;
    const rows = this.rows;
    ioStep(`write ${this.file}`, () => fs.writeFileSync(this.file, rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : '')));
  }

  append(row: MetricRow): void {
    if (!this.lead) return;
    this.rows.push(row);
    ioStep(`write ${this.file}`, () => fs.appendFileSync(this.file, JSON.stringify(row) + '\n'));
  }

  /** The first evaluation logged (the one at the start of the run), if any. */
  firstEval(): StepMetrics | null {
    return (this.rows.find((r) => r.type === 'eval') as unknown as StepMetrics | undefined) ?? null;
  }
}

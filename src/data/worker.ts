/**
 * Worker-thread entry of `prepare` (built by tsup to dist/data/worker.{js,cjs}). It builds the
 * tokenizer from the `tokenizer.json` text in `workerData`, then answers each
 * `{id, docs, split}` message with `{id, result}` ({@link TokenizedDocs}, buffers transferred)
 * or `{id, error}`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ElectraTokenizer, type VocabOptions } from '../tokenizer/tokenizer';
import { tokenizeDocuments } from './tokenize';
import type { SplitOptions } from './sentences';

/** What the pool passes as `workerData`. */
export interface WorkerInit {
  electraDataWorker: 1;
  tokenizerJson: string;
  vocabOptions: VocabOptions;
}

/** A job message. */
export interface WorkerJob {
  id: number;
  docs: string[];
  split: SplitOptions;
}

const init = workerData as WorkerInit | undefined;
if (parentPort && init && init.electraDataWorker === 1) {
  const port = parentPort;
  const tok = ElectraTokenizer.fromJSONString(init.tokenizerJson, init.vocabOptions);
  port.on('message', (job: WorkerJob) => {
    tokenizeDocuments(tok, job.docs, job.split).then(
      (result) => port.postMessage({ id: job.id, result }, [result.ids.buffer as ArrayBuffer, result.sentenceLengths.buffer as ArrayBuffer, result.sentencesPerDoc.buffer as ArrayBuffer]),
      (e: unknown) => port.postMessage({ id: job.id, error: e instanceof Error ? e.message : String(e) }),
    );
  });
}

/** Hub options of the CLI: notes (a fall-back to the cache, a lock being waited for) go to stderr. */
import type { HubOptions } from '../hub';

export const cliHub: HubOptions = { onLog: (m) => process.stderr.write(`electra: ${m}\n`) };

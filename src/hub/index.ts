/** Models by Hugging Face Hub id, through the cache shared with Python's huggingface_hub. */
export { resolveModel, downloadModel, type ResolveOptions, type Snapshot, type HubFiles } from './resolve';
export { hubSettings, hubPaths, type HubOptions, type DownloadProgress } from './settings';
export { parseHubId, formatHubRef, looksLikeHubId, type HubRef } from './id';
export { scanCache, removeFromCache, repoFolderName, type CachedRepo, type CachedRevision } from './cache';

/** Sources (issue 12): the hostile-ZIP extractor and the content-addressed source store. */
export { createSourceStore, treeDigest, type SourceStore, type SourceStoreOptions, type StoredSource } from './store.js';
export { DEFAULT_ZIP_LIMITS, extractZip, type ExtractResult, type ZipLimits } from './zip/extract.js';

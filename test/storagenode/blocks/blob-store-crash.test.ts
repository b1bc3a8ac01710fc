import { BlobBlockStore } from '../../../storagenode/blocks/blob-store.js';
import { crashSuite } from './crash-suite.js';

// Small segments, so the kill also lands around segment rolls.
const opts = { segmentBytes: 1 << 20, compactEveryMs: 0 };
crashSuite('blob-store', '../../../storagenode/blocks/blob-store.js', 'BlobBlockStore', opts, (path) => BlobBlockStore.open({ ...opts, path }));

import { Level } from 'level';
import { LevelBlockStore } from '../../../storagenode/blocks/level-store.js';
import { blockStoreSuite } from './block-store-suite.js';

blockStoreSuite({
  name: 'level-store',
  open: (opts) => LevelBlockStore.open(opts),
  // Through the raw LevelDB API (layout: storagenode/blocks/README.md).
  async corrupt(dir, { payload, frame }) {
    const raw = new Level<string, Buffer>(dir, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
    const rec = (await raw.get('d/' + payload))!;
    rec[rec.length - 1] ^= 0x01;
    await raw.put('d/' + payload, rec);
    await raw.put('d/' + frame, rec.subarray(0, rec.length - 10)); // truncated: length mismatch
    await raw.close();
  },
});

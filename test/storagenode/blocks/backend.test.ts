import t from 'tap';
import { BLOCK_STORE_DEFAULT, detectBlockStore } from '../../../storagenode/blocks/backend.js';
import { BlobBlockStore } from '../../../storagenode/blocks/blob-store.js';
import { LevelBlockStore } from '../../../storagenode/blocks/level-store.js';
import { buildConfig, ConfigError, parseFlags } from '../../../storagenode/config.js';
import { tempDir } from './block-store-suite.js';

const base = ['--id', 'n1', '--listen', '127.0.0.1:7101', '--data', '/tmp/x', '--peers', 'n1=ws://127.0.0.1:7101'];

t.test('backend: --block-store selects the backend, blob by default, and a bad name is a ConfigError', async (t) => {
  t.equal(BLOCK_STORE_DEFAULT, 'blob');
  t.equal(buildConfig({}, parseFlags(base)).blockStore, 'blob');
  t.equal(buildConfig({}, parseFlags([...base, '--block-store', 'level'])).blockStore, 'level');
  t.equal(buildConfig({ blockStore: 'level' }, parseFlags(base)).blockStore, 'level', 'the config file key');
  t.throws(() => buildConfig({}, parseFlags([...base, '--block-store=rocks'])), new ConfigError('--block-store must be blob or level, not "rocks"'));
});

t.test('backend: a block directory tells which backend made it', async (t) => {
  const a = tempDir(t), b = tempDir(t), c = tempDir(t);
  await (await LevelBlockStore.open({ path: a })).close();
  await (await BlobBlockStore.open({ path: b, compactEveryMs: 0 })).close();
  t.equal(detectBlockStore(a), 'level');
  t.equal(detectBlockStore(b), 'blob');
  t.equal(detectBlockStore(c), null);
});

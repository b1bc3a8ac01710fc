import { LevelBlockStore } from '../../../storagenode/blocks/level-store.js';
import { crashSuite } from './crash-suite.js';

crashSuite('level-store', '../../../storagenode/blocks/level-store.js', 'LevelBlockStore', {}, (path) => LevelBlockStore.open({ path }));

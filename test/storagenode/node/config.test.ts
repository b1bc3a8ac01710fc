import t from 'tap';
import { buildConfig, ConfigError, parseFlags, parsePeers } from '../../../storagenode/config.js';
import { formatStatusTable } from '../../../storagenode/cli.js';

const PEERS = 'n1=ws://127.0.0.1:7101,n2=ws://127.0.0.1:7102,n3=ws://127.0.0.1:7103';

t.test('config: flags build a node config with defaults', async (t) => {
  const cfg = buildConfig({}, parseFlags(['--id', 'n1', '--listen', '127.0.0.1:7101', '--data', '/tmp/x', '--peers', PEERS, '--snapshot-entries=50']));
  t.match(cfg, { id: 'n1', host: '127.0.0.1', port: 7101, data: '/tmp/x', cluster: 'tidefs', replicas: 3, snapshotEntries: 50 });
  t.equal(cfg.peers.length, 3);
});

t.test('config: a JSON file gives the same keys, flags override it', async (t) => {
  const cfg = buildConfig({ id: 'n2', listen: '0.0.0.0:9', data: 'd', peers: PEERS, replicas: 2 }, parseFlags(['--replicas', '1']));
  t.match(cfg, { id: 'n2', host: '0.0.0.0', port: 9, replicas: 1 });
});

t.test('config: mistakes are ConfigErrors with a clear message', async (t) => {
  t.throws(() => parseFlags(['--bogus', '1']), new ConfigError('unknown option --bogus'));
  t.throws(() => parseFlags(['--id']), /needs a value/);
  t.throws(() => parseFlags(['stray']), /unexpected argument/);
  t.throws(() => buildConfig({}, { id: 'n1', listen: 'x:1', data: 'd' }), /--peers is required/);
  t.throws(() => buildConfig({}, { id: 'n9', listen: 'x:1', data: 'd', peers: PEERS }), /must name this node \(n9\)/);
  t.throws(() => buildConfig({}, { id: 'n1', listen: 'nope', data: 'd', peers: PEERS }), /HOST:PORT/);
  t.throws(() => buildConfig({}, { id: 'n1', listen: 'x:1', data: 'd', peers: PEERS, replicas: '0' }), /positive integer/);
  t.throws(() => buildConfig({ color: 'red' }, {}), /unknown key "color"/);
  t.throws(() => parsePeers('n1=http://x:1'), /ws:\/\/HOST:PORT/);
  t.throws(() => parsePeers('n1=ws://a:1,n1=ws://b:2'), /twice/);
});

t.test('status table: the word leader appears only when a node leads', async (t) => {
  t.notMatch(formatStatusTable([{ url: 'ws://a:1', err: 'down' }]), /leader/);
  const st = {
    node: 'n1', url: 'ws://a:1', cluster: 'c', role: 'leader' as const, term: 3, leader: 'n1', commitIndex: 9, appliedIndex: 9,
    lastIndex: 9, snapshotIndex: 0, members: [{ id: 'n1', url: 'ws://a:1', reachable: true }], blocks: { count: 2, bytes: 2048 },
    disk: { totalBytes: 1 << 30, freeBytes: 1 << 29 }, uptimeMs: 5,
  };
  const out = formatStatusTable([{ url: 'ws://a:1', st }]);
  t.match(out, /n1\s+ws:\/\/a:1\s+leader\s+3\s+9\s+9\s+n1/);
  t.match(out, /512\.0MiB\/1\.0GiB/);
});

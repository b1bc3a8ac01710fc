import t from 'tap';
import { cpuMs, parseStatus } from '../bench/rss.js';
import { pick, rng, split } from './names.js';

t.test('soak picks: distinct, within range, only where ok() holds, repeatable from the seed', async (t) => {
  const even = (i: number) => i % 2 === 0;
  const a = pick(rng(7), 1000, 300, even);
  t.equal(a.length, 300);
  t.equal(new Set(a).size, 300, 'distinct');
  t.ok(a.every((i) => i >= 0 && i < 1000 && even(i)));
  t.same(pick(rng(7), 1000, 300, even), a, 'same seed, same picks');
});

t.test('soak picks: asking for more than exist gives all of them', async (t) => {
  const all = pick(rng(1), 100, 80, (i) => i % 10 === 0);
  t.same([...all].sort((x, y) => x - y), [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
});

t.test('soak creators: ranges cover [from, to) once, without empty ones', async (t) => {
  t.same(split(10, 20, 3), [[10, 14], [14, 18], [18, 20]]);
  t.same(split(0, 2, 4), [[0, 1], [1, 2]]);
  t.same(split(5, 5, 4), []);
});

t.test('RSS: VmRSS and VmHWM are read in kB and reported in MB', async (t) => {
  const status = 'Name:\tnode\nVmPeak:\t 1000000 kB\nVmHWM:\t  300000 kB\nVmRSS:\t  250000 kB\nThreads:\t11\n';
  t.same(parseStatus(status), { rssMb: 256, hwmMb: 307.2 });
  t.equal(parseStatus('Name:\tkthreadd\n'), null, 'kernel threads have no VmRSS');
});

t.test('CPU time of this process is read from /proc/PID/stat in ms', async (t) => {
  const before = cpuMs(process.pid)!;
  const own = process.cpuUsage();
  while (process.cpuUsage(own).user < 100_000); // burn 100 ms of CPU, however busy the machine is
  const used = cpuMs(process.pid)! - before;
  const ownMs = (process.cpuUsage(own).user + process.cpuUsage(own).system) / 1000;
  t.ok(Math.abs(used - ownMs) <= 30, `/proc says ${used} ms, process.cpuUsage ${ownMs.toFixed(0)} ms (ticks are 10 ms)`);
  t.equal(cpuMs(2 ** 22 + 1), null, 'no such process');
});

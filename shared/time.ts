/**
 * Timestamps are [seconds, nanoseconds] pairs: nanoseconds since the epoch do not fit in a double, and
 * a bigint does not survive msgpack reliably (small values decode as numbers).
 */
export type Time = readonly [sec: number, nsec: number];

export function timeFromMs(ms: number): Time {
  const sec = Math.floor(ms / 1000);
  return [sec, Math.round((ms - sec * 1000) * 1e6)];
}
export function timeToMs(t: Time): number {
  return t[0] * 1000 + t[1] / 1e6;
}
export function compareTime(a: Time, b: Time): number {
  return a[0] - b[0] || a[1] - b[1];
}
export function isTime(x: unknown): x is Time {
  return Array.isArray(x) && x.length === 2 && Number.isSafeInteger(x[0]) && Number.isInteger(x[1]) &&
    x[1] >= 0 && x[1] < 1e9;
}

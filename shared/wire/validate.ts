/**
 * A tiny schema checker for decoded frames. One schema both validates untrusted input and gives the
 * TypeScript type of what passed, so an op's arguments are described once (shared/protocol/ops.ts).
 * Checks are total: any input yields a value or a path-qualified reason, never a throw.
 */
export type Check<T> = { (x: unknown, path: string): T | Invalid; readonly _t?: T };
export type Infer<C> = C extends Check<infer T> ? T : never;

export class Invalid {
  constructor(readonly path: string, readonly reason: string) {}
  toString(): string {
    return `${this.path || 'value'}: ${this.reason}`;
  }
}
const bad = (path: string, reason: string) => new Invalid(path, reason);
const utf8Bytes = (s: string) => Buffer.byteLength(s, 'utf8');

export function int(opts: { min?: number; max?: number } = {}): Check<number> {
  const min = opts.min ?? Number.MIN_SAFE_INTEGER;
  const max = opts.max ?? Number.MAX_SAFE_INTEGER;
  return (x, p) => {
    if (typeof x !== 'number' || !Number.isSafeInteger(x)) return bad(p, 'expected an integer');
    if (x < min || x > max) return bad(p, `out of range [${min}, ${max}]`);
    return x;
  };
}
export const uint = (max?: number) => int({ min: 0, ...(max === undefined ? {} : { max }) });

export function str(opts: { maxBytes: number; minBytes?: number; pattern?: RegExp }): Check<string> {
  return (x, p) => {
    if (typeof x !== 'string') return bad(p, 'expected a string');
    const n = utf8Bytes(x);
    if (n > opts.maxBytes) return bad(p, `longer than ${opts.maxBytes} bytes`);
    if (n < (opts.minBytes ?? 0)) return bad(p, `shorter than ${opts.minBytes} bytes`);
    if (opts.pattern && !opts.pattern.test(x)) return bad(p, 'malformed');
    return x;
  };
}
export function bytes(opts: { maxBytes: number }): Check<Uint8Array> {
  return (x, p) => {
    if (!(x instanceof Uint8Array)) return bad(p, 'expected bytes');
    if (x.byteLength > opts.maxBytes) return bad(p, `longer than ${opts.maxBytes} bytes`);
    return x;
  };
}
export const bool: Check<boolean> = (x, p) => (typeof x === 'boolean' ? x : bad(p, 'expected a boolean'));
export const unknownValue: Check<unknown> = (x) => x;

export function literal<const T extends readonly (string | number)[]>(...values: T): Check<T[number]> {
  return (x, p) => (values.includes(x as T[number]) ? (x as T[number]) : bad(p, `expected one of ${values.join(', ')}`));
}
export function array<T>(item: Check<T>, maxItems: number): Check<T[]> {
  return (x, p) => {
    if (!Array.isArray(x)) return bad(p, 'expected an array');
    if (x.length > maxItems) return bad(p, `more than ${maxItems} items`);
    const out: T[] = [];
    for (let i = 0; i < x.length; i++) {
      const v = item(x[i], `${p}[${i}]`);
      if (v instanceof Invalid) return v;
      out.push(v);
    }
    return out;
  };
}
export function tuple<const C extends readonly Check<unknown>[]>(...items: C): Check<{ [K in keyof C]: Infer<C[K]> }> {
  return (x, p) => {
    if (!Array.isArray(x) || x.length !== items.length) return bad(p, `expected ${items.length} items`);
    const out: unknown[] = [];
    for (let i = 0; i < items.length; i++) {
      const v = items[i]!(x[i], `${p}[${i}]`);
      if (v instanceof Invalid) return v;
      out.push(v);
    }
    return out as { [K in keyof C]: Infer<C[K]> };
  };
}
export function optional<T>(c: Check<T>): Check<T | undefined> & { optional: true } {
  const f = ((x: unknown, p: string) => (x === undefined || x === null ? undefined : c(x, p))) as Check<T | undefined> & {
    optional: true;
  };
  f.optional = true;
  return f;
}
export function nullable<T>(c: Check<T>): Check<T | null> {
  return (x, p) => (x === null ? null : c(x, p));
}

type Shape = Record<string, Check<unknown>>;
type OptionalKeys<S extends Shape> = { [K in keyof S]: S[K] extends { optional: true } ? K : never }[keyof S];
type RequiredKeys<S extends Shape> = Exclude<keyof S, OptionalKeys<S>>;
export type ObjectOf<S extends Shape> = { [K in RequiredKeys<S>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Infer<S[K]> };

/** Unknown keys are rejected: a hostile peer cannot smuggle fields past the schema. */
export function object<S extends Shape>(shape: S): Check<ObjectOf<S>> {
  const keys = Object.keys(shape);
  return (x, p) => {
    if (typeof x !== 'object' || x === null || Array.isArray(x) || x instanceof Uint8Array) return bad(p, 'expected an object');
    for (const k of Object.keys(x)) if (!(k in shape)) return bad(p ? `${p}.${k}` : k, 'unknown field');
    const out: Record<string, unknown> = {};
    for (const k of keys) {
      const v = shape[k]!((x as Record<string, unknown>)[k], p ? `${p}.${k}` : k);
      if (v instanceof Invalid) return v;
      if (v !== undefined) out[k] = v;
    }
    return out as ObjectOf<S>;
  };
}

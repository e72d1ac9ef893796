/**
 * The Worker's configuration is its `env` (vars, secrets, bindings): the
 * runtime hands a request, a queue batch, a cron run and each Durable Object
 * the `env` of their Worker, and a var does not change under it. So whatever
 * is read from a var (`TABLE_CONFIG`, `PRICES`, `PUSH_BUCKETS`, the numeric
 * vars, the read credentials' settings) is parsed once per `env` object, by
 * a parser wrapped in {@link perEnv}, not in every request and every
 * Durable Object call. An `env` of its own (a test's `{ ...env, PARALLELISM:
 * "six" }`) is parsed afresh.
 */

type Parsed<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * `parse`, run once per `env` object: later calls with the same `env` get the
 * same value, or the same error thrown again (a bad var is refused the same
 * way every time). Held in a `WeakMap`, so an `env` nobody holds any more is
 * forgotten with what was parsed from it.
 */
export function perEnv<E extends object, T>(parse: (env: E) => T): (env: E) => T {
  const parsed = new WeakMap<E, Parsed<T>>();
  return (env) => {
    let p = parsed.get(env);
    if (p === undefined) {
      try {
        p = { ok: true, value: parse(env) };
      } catch (error) {
        p = { ok: false, error };
      }
      parsed.set(env, p);
    }
    if (!p.ok) throw p.error;
    return p.value;
  };
}

/**
 * `p`, or `timeoutError()` when it has not settled within `ms` (at once when `ms` ≤ 0). A rejection that is not an
 * Error becomes one. The timer is cleared when `p` settles first.
 */
export function settleWithin<T>(p: Promise<T>, ms: number, timeoutError: () => Error): Promise<T> {
  if (ms <= 0) return Promise.reject(timeoutError());
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(timeoutError()), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

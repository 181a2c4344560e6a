/**
 * Appends items to target one by one. `target.push(...items)` passes every
 * item as an argument, which throws "Maximum call stack size exceeded" past
 * about 100k items: never spread an array whose length the data decides.
 */
export function appendAll<T>(target: T[], items: readonly T[]): T[] {
  for (const item of items) target.push(item);
  return target;
}

/**
 * `promise`'s outcome, or a rejection `no answer within <ms> ms` if `ms` pass first. The timer is
 * cleared either way, so a settled race keeps no process alive; `promise` itself runs on.
 */
export async function withinDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

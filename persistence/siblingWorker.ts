import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts the worker thread whose module `name` sits next to the caller (`callerUrl`: the caller's
 * `import.meta.url`): the compiled `name.js` beside a bundle, or the TypeScript source `name.ts`
 * beside the caller's own source, run through tsx. Module hooks (tsx) are per thread and
 * `--import` is not passed on to workers, so from source the thread registers them first.
 * Here (not in gateway/) because both layers start one: the chat log's checkpoint thread and the
 * shell's screen mirror.
 */
export function startSiblingWorker(callerUrl: string, name: string, options: WorkerOptions = {}): Worker {
  const fromSource = callerUrl.endsWith('.ts');
  const entry = new URL(`./${name}.${fromSource ? 'ts' : 'js'}`, callerUrl);
  if (!fromSource) return new Worker(entry, options);
  const bootstrap = `import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}

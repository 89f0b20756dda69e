import v8 from 'node:v8';
import vm from 'node:vm';

let collect: (() => void) | null = null;

/**
 * A full garbage collection, for specs that measure what is retained. The flag is set at run
 * time, so no `--expose-gc` is needed; two passes, so what the first one finalizes goes too.
 */
export function collectGarbage(): void {
  if (!collect) {
    v8.setFlagsFromString('--expose-gc');
    collect = vm.runInNewContext('gc') as () => void;
  }
  collect();
  collect();
}

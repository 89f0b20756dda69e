/** Every workload, in the order a full run measures them. */
import type { Workload } from '../lib/workload.js';
import { actorChurn } from './actorChurn.js';
import { cluster } from './cluster.js';
import { durableLog } from './durableLog.js';
import { fanout } from './fanout.js';
import { idleMemory } from './idleMemory.js';
import { latency } from './latency.js';
import { ptyThroughput } from './pty.js';
import { reconnectStorm } from './reconnectStorm.js';
import { replay } from './replay.js';
import { scale } from './scale.js';
import { screenRestore } from './screenRestore.js';

export const WORKLOADS: Workload[] = [fanout, latency, replay, durableLog, reconnectStorm, idleMemory, ptyThroughput, screenRestore, actorChurn, scale, cluster];

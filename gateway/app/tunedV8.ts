/**
 * Imported first by the CLI, so the run-time V8 setting is in place before anything else is
 * loaded or allocated, however node was started (gateway/v8Tuning.ts says why; `npm start` also
 * has it on node's command line, with the one that can only be set there).
 */
import { tuneV8ForGateway } from '../v8Tuning.js';

tuneV8ForGateway();

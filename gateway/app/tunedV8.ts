/**
 * Imported first by the CLI, so the V8 setting is in place before anything else is loaded or
 * allocated (gateway/v8Tuning.ts says why).
 */
import { tuneV8ForGateway } from '../v8Tuning.js';

tuneV8ForGateway();

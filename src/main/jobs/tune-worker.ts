/** Entry of the tuning worker process (built to out/main/tune-worker.js). */
import { runTuneJob } from '../engine-facade.js';
import { serveWorker } from './worker-host.js';

serveWorker(runTuneJob);

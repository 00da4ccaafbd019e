// Runs one argon2 or bcrypt derivation off the main thread (see inWorker in django-hashers.ts)
// and posts the raw bytes back; the comparison happens on the main thread, in constant time.
import { argon2d, argon2i, argon2id, bcrypt } from 'hash-wasm';
import { parentPort, workerData } from 'node:worker_threads';
import type { WorkerJob } from './django-hashers.ts';

const job = workerData as WorkerJob;
const derive = { argon2id, argon2i, argon2d };
const key = job.kind === 'bcrypt'
  ? await bcrypt({ password: job.password, salt: job.salt, costFactor: job.costFactor, outputType: 'binary' })
  : await derive[job.kind]({
    password: job.password, salt: job.salt, iterations: job.iterations, parallelism: job.parallelism,
    memorySize: job.memorySize, hashLength: job.hashLength, outputType: 'binary',
  });
parentPort!.postMessage(key);

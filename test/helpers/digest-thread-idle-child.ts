/** A process that starts a digest thread and then has nothing left to do: it must exit by itself. */
import { DigestThread } from '../../src/streams/digest-thread.js';

DigestThread.start();
console.log('started');

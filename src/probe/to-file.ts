/**
 * A GET probe with `out`: the body streams into a temporary file as it arrives, checked on the
 * way, and is renamed into place only once it is whole and verified — memory is one chunk
 * whatever the object's size, and a failed or damaged read leaves no file.
 */
import { sinkFor, type FileWrite } from '../sinks/file-sink.js';
import type { ProbeTask, ProbeUsage, Verdict, VerdictHead } from './task.js';
import { ok, writeFailure } from './answer.js';
import type { BodyVerifier } from './verify.js';
import { ReadPathError } from '../errors.js';

/** This thread's files being written, by the task writing each. */
const writing = new Map<ProbeTask, FileWrite>();
/** Tasks whose write was given up on: they may not start one any more. */
const abandoned = new WeakSet<ProbeTask>();

/**
 * Give up on `task`'s write, now: its temporary file is removed at once, whatever its body read is
 * doing, and it never renames a file into place nor starts one later. For an executor's close(),
 * which must leave no file behind even when a probe it gave up on has not heard its abort yet.
 */
export function abandonWrite(task: ProbeTask): void {
  abandoned.add(task);
  writing.get(task)?.abort();
}

/** What the body's bytes are, to the file writer. */
export interface FileBody {
  head: VerdictHead;
  /** The object's size, as the verdict reports it. */
  objectSize: number;
  /** Checks the bytes written (undefined: none). */
  verifier: BodyVerifier | undefined;
  /**
   * Read the body, handing each piece to `onBytes` in order; resolves with the bytes read from
   * the backend. Throws when the read fails (the file is then dropped).
   */
  read(onBytes: (bytes: Uint8Array) => void): Promise<number>;
  /** Release the body unread (nowhere to write it). */
  discard(): void;
}

/** Write `body` under `root` at the task's key; the verdict says where, or why not. */
export async function toFile(task: ProbeTask, root: string, body: FileBody, used: ProbeUsage): Promise<Verdict> {
  const head = body.head;
  let file: FileWrite;
  try {
    if (abandoned.has(task)) throw new ReadPathError('ABORTED', `${task.key}: the write was given up on before it started`);
    file = sinkFor(root, task.outScope).begin(task.key);
  } catch (err) {
    // Nowhere to put it: the body is not worth reading.
    body.discard();
    const v = ok(0, body.objectSize, head, used.egress, used.api);
    v.verified = false;
    v.writeError = writeFailure(task, err);
    return v;
  }
  writing.set(task, file);
  try {
    return await feed(task, file, body, used);
  } finally {
    writing.delete(task);
  }
}

/** Feed `file` with the body, then commit or drop it. */
async function feed(task: ProbeTask, file: FileWrite, body: FileBody, used: ProbeUsage): Promise<Verdict> {
  const head = body.head;
  const verifier = body.verifier;
  let writeError: unknown;
  let written = 0;
  let egress: number;
  try {
    egress = await body.read((chunk) => {
      verifier?.update(chunk);
      written += chunk.byteLength;
      if (writeError !== undefined) return;
      try {
        file.write(chunk);
      } catch (err) {
        // Keep reading: the copy may still be good, and its verdict says the write failed.
        writeError = err;
      }
    });
  } catch (err) {
    file.abort();
    throw err;
  }
  used.egress += egress;
  let verified: boolean;
  try {
    verified = verifier?.finish() ?? false;
  } catch (err) {
    file.abort();
    throw err;
  }
  const v = ok(written, body.objectSize, head, used.egress, used.api);
  v.verified = verified;
  if (writeError === undefined) {
    try {
      v.path = file.commit();
    } catch (err) {
      writeError = err;
    }
  } else {
    file.abort();
  }
  if (writeError !== undefined) v.writeError = writeFailure(task, writeError);
  return v;
}

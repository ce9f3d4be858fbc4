/**
 * Resuming a batch written with `readMany({ out })`: files appear in the output directory only
 * once whole and verified (written to a temporary file, renamed into place), so a key whose file
 * is already there was finished by an earlier run. {@link keysMissingFrom} passes on only the
 * other keys — what `readpath batch --skip-existing` does, for library users.
 */
import { FileSink } from './file-sink.js';

/**
 * The keys of `keys` whose file is not yet in `dir` (a regular file at `dir/<key>` reached
 * through real directories; see FileSink.hasFile), lazily, in order. `onSkip` hears each key
 * left out. Feed it to readMany with the same `out`:
 * `rp.readMany(keysMissingFrom('./restore', keys), { out: './restore' })`. A key that cannot map
 * into `dir` is passed on (readMany answers it INVALID_KEY). Creates `dir` when absent.
 */
export async function* keysMissingFrom(
  dir: string,
  keys: Iterable<string> | AsyncIterable<string>,
  onSkip?: (key: string) => void,
): AsyncGenerator<string, void, undefined> {
  // Only looks: whether the directory can be written is readMany's question.
  const sink = FileSink.open(dir, { writable: false });
  for await (const key of keys) {
    if (typeof key === 'string' && sink.hasFile(key)) {
      onSkip?.(key);
      continue;
    }
    yield key;
  }
}

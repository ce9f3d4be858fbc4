/**
 * Writes lines to stderr through a CoalescedWriter, then leaves the way argv[2] says — before the
 * end of the turn that wrote them, so only the writer's `exit` handler can still write them:
 * `exit` (process.exit(3)), `throw` (an uncaught exception), `dry` (the loop runs out of work).
 * argv[3]: the writer's `holdMs` (default 0).
 */
import { CoalescedWriter } from '../../src/cli/coalesced-writer.js';

const w = new CoalescedWriter(process.stderr, { holdMs: Number(process.argv[3] ?? 0) });
for (let i = 0; i < 5; i++) w.write(`line ${i}\n`);
const how = process.argv[2];
if (how === 'exit') process.exit(3);
if (how === 'throw') throw new Error('uncaught on purpose');

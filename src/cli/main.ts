#!/usr/bin/env node
/** The `readpath` command line. */
import { runWalkthrough } from './walkthrough.js';

const [cmd] = process.argv.slice(2);
if (cmd === 'demo' || cmd === 'walkthrough') {
  await runWalkthrough();
} else {
  process.stderr.write('usage: readpath demo\n');
  process.exitCode = 2;
}

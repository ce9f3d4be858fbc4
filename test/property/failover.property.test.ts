/**
 * Properties of the failover core over random fleets and scripts (see property-world.ts):
 * backends that succeed, fail, skip for usage, answer 404 or 503-unavailable, throw, hang or
 * succeed late; random windows, sequential / parallel / hedged strategies; caller aborts at
 * random ticks. Every case is checked against the contract with a model built from its own
 * event log. Replay a failure: READPATH_FC_SEED=… READPATH_FC_PATH=… (see property-params.ts).
 *
 * Probes here are the test's own closures, so these properties are executor-independent; the
 * executors (inline, pool) are held to the same outcome rules by the random key lists of
 * test/fuzz/keys.fuzz.test.ts and the seeded runs of test/chaos/*.test.ts.
 */
import { test } from 'node:test';
import fc from 'fast-check';
import { checkScenario, runScenario, scenarioArb } from '../helpers/property-world.js';
import { fcParams } from '../helpers/property-params.js';

for (const strategy of ['sequential', 'parallel', 'hedged'] as const) {
  test(`failover properties hold for random ${strategy} scenarios`, async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb({ strategies: [strategy] }), async (s) => {
        checkScenario(s, await runScenario(s));
      }),
      fcParams(150),
    );
  });
}

/**
 * The CLI's command index (loaded by group on demand) names exactly the
 * commands and aliases its modules define, each once.
 *
 * @module
 */

import assert from "node:assert/strict";
import { allCommands, COMMAND_GROUPS, loadCommand } from "../src/cli/commands.ts";

Deno.test("cli commands: each group lists exactly its module's names and aliases", async () => {
  const seen = new Set<string>();
  for (const group of COMMAND_GROUPS) {
    const defined = (await group.load()).flatMap((c) => [c.name, ...(c.aliases ?? [])]);
    assert.deepEqual([...group.names].sort(), [...defined].sort());
    for (const n of defined) {
      assert.ok(!seen.has(n), `${n} is listed twice`);
      seen.add(n);
      assert.ok((await loadCommand(n)) !== undefined, n);
    }
  }
  assert.equal(
    (await allCommands()).length,
    new Set((await allCommands()).map((c) => c.name)).size,
  );
  assert.equal(await loadCommand("no-such-command"), undefined);
});

/**
 * Every CLI command, in the order the usage text lists them.
 *
 * @module
 */

import type { Command } from "./command.ts";
import { layerCommands } from "./layers.ts";
import { imageCommands } from "./images.ts";
import { containerCommands } from "./containers.ts";
import { dataCommandList } from "./data.ts";
import { nameCommands } from "./names.ts";
import { mountCommands } from "./mount.ts";
import { adminCommands } from "./admin.ts";
import { diffCommands } from "./diff.ts";
import { checkCommands } from "./check.ts";
import { transferCommands } from "./transfer.ts";
import { copyCommands } from "./copy.ts";

/** All commands. */
export const commands: Command[] = [
  ...containerCommands,
  ...layerCommands,
  ...imageCommands,
  ...dataCommandList,
  ...nameCommands,
  ...mountCommands,
  ...diffCommands,
  ...transferCommands,
  ...copyCommands,
  ...adminCommands,
  ...checkCommands,
];

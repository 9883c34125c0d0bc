/**
 * Every CLI command, in the order the usage text lists them, loaded by
 * group on demand.
 *
 * Why the name lists: a command's module, and what it imports, is loaded
 * only when that command runs. Loading all of them took about 6 ms of
 * every call (a quarter of the start-up beyond Deno's own); only the usage
 * text needs them all. `tests/cli_commands_test.ts` checks that the lists
 * say exactly what the modules define.
 *
 * @module
 */

import type { Command } from "./command.ts";

/** A module's commands and every name (and alias) they answer to. */
export interface CommandGroup {
  names: readonly string[];
  load(): Promise<Command[]>;
}

/** The command groups, in usage order. */
export const COMMAND_GROUPS: readonly CommandGroup[] = [
  {
    names: [
      "containers",
      "container",
      "create-container",
      "createcontainer",
      "delete-container",
      "deletecontainer",
      "get-container-dir",
      "getcontainerdir",
      "get-container-run-dir",
      "getcontainerrundir",
    ],
    load: async () => (await import("./containers.ts")).containerCommands,
  },
  {
    names: [
      "layers",
      "layer",
      "create-layer",
      "createlayer",
      "import-layer",
      "importlayer",
      "delete-layer",
      "deletelayer",
    ],
    load: async () => (await import("./layers.ts")).layerCommands,
  },
  {
    names: [
      "images",
      "images-by-digest",
      "image",
      "create-image",
      "createimage",
      "delete-image",
      "deleteimage",
    ],
    load: async () => (await import("./images.ts")).imageCommands,
  },
  {
    names: [
      "list-layer-data",
      "listlayerdata",
      "get-layer-data",
      "getlayerdata",
      "set-layer-data",
      "setlayerdata",
      "list-image-data",
      "listimagedata",
      "get-image-data",
      "getimagedata",
      "set-image-data",
      "setimagedata",
      "get-image-data-size",
      "getimagedatasize",
      "get-image-data-digest",
      "getimagedatadigest",
      "list-container-data",
      "listcontainerdata",
      "get-container-data",
      "getcontainerdata",
      "set-container-data",
      "setcontainerdata",
      "get-container-data-size",
      "getcontainerdatasize",
      "get-container-data-digest",
      "getcontainerdatadigest",
    ],
    load: async () => (await import("./data.ts")).dataCommandList,
  },
  {
    names: [
      "get-names",
      "getnames",
      "add-names",
      "addnames",
      "set-names",
      "setnames",
      "metadata",
      "set-metadata",
      "setmetadata",
      "exists",
      "delete",
    ],
    load: async () => (await import("./names.ts")).nameCommands,
  },
  {
    names: ["mount", "unmount", "umount", "mounted"],
    load: async () => (await import("./mount.ts")).mountCommands,
  },
  {
    names: ["changes", "diffsize", "diff-size", "diff", "applydiff", "apply-diff"],
    load: async () => (await import("./diff.ts")).diffCommands,
  },
  {
    names: ["import", "export"],
    load: async () => (await import("./transfer.ts")).transferCommands,
  },
  {
    names: ["copy", "layer-parent-owners", "container-parent-owners"],
    load: async () => (await import("./copy.ts")).copyCommands,
  },
  {
    names: ["status", "version", "wipe", "shutdown"],
    load: async () => (await import("./admin.ts")).adminCommands,
  },
  {
    names: ["gc", "check"],
    load: async () => (await import("./check.ts")).checkCommands,
  },
];

/** All commands, in usage order (loads every command module). */
export async function allCommands(): Promise<Command[]> {
  const groups = await Promise.all(COMMAND_GROUPS.map((g) => g.load()));
  return groups.flat();
}

/** The command called `name` (or with that alias), loading only its module. */
export async function loadCommand(name: string): Promise<Command | undefined> {
  const group = COMMAND_GROUPS.find((g) => g.names.includes(name));
  if (group === undefined) return undefined;
  return (await group.load()).find((c) => c.name === name || c.aliases?.includes(name));
}

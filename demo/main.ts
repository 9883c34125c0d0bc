/**
 * The README's main job, end to end with no network: build a small image
 * from files on this machine, import it into a store in a local folder,
 * create a container from it, mount it, look around, export the image
 * again, and clean up.
 *
 * Usage: `deno task demo [--dir DIR] [--driver vfs|overlay] [--remove-store]`
 * (default folder `./.demo`). The store is kept afterwards so that it can be
 * looked at with the CLI (the last lines say how); `--remove-store` deletes
 * it at the end instead. Containers and mounts are always cleaned up.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { openStore, type Store } from "../src/store.ts";
import { importImage } from "../src/image_io/import_image.ts";
import { exportImage } from "../src/image_io/export_image.ts";
import { formatBytes } from "../src/image_io/progress_line.ts";
import { addTextFile, programTree, treeTar } from "./host_files.ts";
import { type BuiltImage, writeOciImage } from "./oci_build.ts";

const IMAGE_NAME = "localhost/cstor-demo:latest";
const CONTAINER_NAME = "cstor-demo-box";
const PROGRAMS = ["/bin/sh", "/usr/bin/ls", "/usr/bin/cat", "/usr/bin/echo"];

function say(text = ""): void {
  console.log(text);
}

function step(n: number, title: string): void {
  say(`\n${n}. ${title}`);
}

function short(id: string): string {
  return id.replace(/^sha256:/, "").slice(0, 12);
}

/** Opens the store with overlay when asked or when root and overlay works, else vfs. */
async function openDemoStore(dir: string, wanted: string | undefined): Promise<Store> {
  const roots = { graphRoot: join(dir, "store", "graph"), runRoot: join(dir, "store", "run") };
  const isRoot = Deno.uid() === 0;
  const choice = wanted ?? (isRoot ? "overlay" : "vfs");
  if (choice === "overlay") {
    try {
      return await openStore({ ...roots, driver: "overlay" });
    } catch (err) {
      if (wanted) throw err;
      say(`   overlay is not usable here (${(err as Error).message}); using vfs`);
    }
  }
  return await openStore({ ...roots, driver: "vfs" });
}

/** Files and directories under `root`, a few levels deep, as indented lines. */
function listTree(root: string, depth: number, indent = "     "): string[] {
  const lines: string[] = [];
  const entries = [...Deno.readDirSync(root)].sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    const abs = join(root, e.name);
    if (e.isSymlink) {
      lines.push(`${indent}${e.name} -> ${Deno.readLinkSync(abs)}`);
    } else if (e.isDirectory) {
      lines.push(`${indent}${e.name}/`);
      if (depth > 1) lines.push(...listTree(abs, depth - 1, indent + "  "));
    } else {
      lines.push(`${indent}${e.name} (${formatBytes(Deno.statSync(abs).size)})`);
    }
  }
  return lines;
}

/** Step 4: mount the container, look inside, change something. */
async function lookInside(store: Store, containerID: string, layerID: string): Promise<void> {
  const mountPoint = await store.mount(containerID);
  try {
    say(`   mounted at ${mountPoint}`);
    say(`   what is inside (two levels):`);
    for (const line of listTree(mountPoint, 2)) say(line);
    const hello = await Deno.readTextFile(join(mountPoint, "etc", "hello.txt"));
    say(`   /etc/hello.txt says: ${hello.trim()}`);
    if (Deno.uid() === 0) {
      const out = await new Deno.Command("chroot", {
        args: [mountPoint, "/bin/sh", "-c", "echo sh in the mount, ls /etc: $(ls /etc)"],
        stdout: "piped",
        stderr: "piped",
      }).output().catch(() => undefined);
      if (out?.success) say(`   ${new TextDecoder().decode(out.stdout).trim()}`);
    }
    await Deno.writeTextFile(join(mountPoint, "etc", "written-by-demo"), "a change\n");
    const changes = await store.changes(layerID);
    const described = changes.map((c) => `${["modified", "added", "deleted"][c.Kind]} ${c.Path}`);
    say(`   after writing a file, the container layer's changes: ${described.join(", ")}`);
  } finally {
    await store.unmount(containerID, { force: true });
    say(`   unmounted`);
  }
}

/** Step 5: every layer, image and container. */
async function listStore(store: Store): Promise<void> {
  for (const l of await store.layers()) {
    const size = l.uncompressedDigest ? formatBytes(l.uncompressedSize) : "(container layer)";
    const parent = l.parent ? `on ${short(l.parent)}` : "".padEnd(15);
    say(`   layer     ${short(l.id)} ${parent}  ${size}`);
  }
  for (const i of await store.images()) {
    const items = `${i.bigDataNames.length} big-data items`;
    say(`   image     ${short(i.id)}  ${i.names.join(", ")}  (${items})`);
  }
  for (const c of await store.containers()) {
    say(`   container ${short(c.id)}  ${c.names.join(", ")}  from image ${short(c.imageID)}`);
  }
}

/** Steps 3 to 7: import, container, mount, listing, export, clean-up. */
async function useStore(store: Store, built: BuiltImage, dir: string): Promise<void> {
  step(3, `Importing it as ${IMAGE_NAME}`);
  const imported = await importImage(store, built.location, { names: [IMAGE_NAME] });
  for (const l of imported.layers) {
    say(`   layer ${short(l.id)}  ${l.reused ? "already in the store, reused" : "applied"}`);
  }
  const how = imported.created ? "created" : "already there: names and manifest updated";
  say(`   image ${short(imported.image.id)} (its ID is the config digest): ${how}`);

  step(4, `Creating container ${CONTAINER_NAME} and mounting it`);
  const old = await store.container(CONTAINER_NAME);
  if (old) await store.deleteContainer(old.id); // left by an interrupted run
  const container = await store.createContainer(imported.image.id, { names: [CONTAINER_NAME] });
  try {
    say(`   container ${short(container.id)}, read-write layer ${short(container.layerID)}`);
    await lookInside(store, container.id, container.layerID);

    step(5, "What the store holds");
    await listStore(store);

    step(6, "Exporting the image again");
    const exportDir = join(dir, "export");
    await Deno.remove(exportDir, { recursive: true }).catch(() => {});
    const exported = await exportImage(store, IMAGE_NAME, `oci:${exportDir}:demo`);
    say(`   oci:${exportDir}:demo  manifest ${short(exported.manifestDigest)}`);
    say(
      exported.manifestDigest === built.manifestDigest
        ? "   byte-identical to what was imported: same manifest, config and layer blobs"
        : "   layers were recompressed; the config and every DiffID are unchanged",
    );
  } finally {
    step(7, "Cleaning up");
    await store.deleteContainer(container.id);
    say(`   container and its layer deleted; nothing is mounted any more`);
  }
}

/**
 * Not root: runs the demo again inside a user namespace where this user is
 * "root", as rootless podman does (`podman unshare`), because layers hold
 * files owned by root and the store gives them that owner. Returns the
 * exit status, or undefined when no user namespace can be made.
 */
async function inUserNamespace(args: string[]): Promise<number | undefined> {
  const script = new URL(import.meta.url).pathname;
  const probe = await new Deno.Command("unshare", {
    args: ["--user", "--map-root-user", "true"],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => undefined);
  if (!probe?.success) return undefined;
  const child = new Deno.Command("unshare", {
    args: [
      "--user",
      "--map-root-user",
      "--mount",
      Deno.execPath(),
      "run",
      "-A",
      script,
      ...args,
      "--in-user-namespace",
    ],
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  });
  return (await child.output()).code;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      dir: { type: "string", default: ".demo" },
      driver: { type: "string" },
      "remove-store": { type: "boolean", default: false },
      "in-user-namespace": { type: "boolean", default: false },
    },
  });
  const rootless = values["in-user-namespace"]!;
  if (Deno.uid() !== 0) {
    say("Not root: running in a user namespace where this user is root (as rootless podman");
    say("does), so that the image's files can be owned by root; the store uses vfs.");
    const driverArgs = values.driver ? [] : ["--driver", "vfs"];
    const status = await inUserNamespace([...Deno.args, ...driverArgs]);
    if (status !== undefined) return status;
    say("No user namespace can be made here (unshare --user failed). Run the demo as root,");
    say("or enable unprivileged user namespaces.");
    return 1;
  }
  const dir = resolve(values.dir!);
  const layout = join(dir, "image");
  say(`cstor demo: an image from local files, a store in ${dir}, a container, a mount.`);

  step(1, "Building an image from files on this machine (no network)");
  const base = await programTree(PROGRAMS);
  const extra = new Map();
  addTextFile(extra, "/etc/hello.txt", "Hello from a container image cstor built and stored.\n");
  addTextFile(extra, "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
  addTextFile(extra, "/etc/group", "root:x:0:\n");
  await Deno.remove(layout, { recursive: true }).catch(() => {});
  const built = await writeOciImage(layout, {
    layers: [{ tar: await treeTar(base) }, { tar: await treeTar(extra) }],
    runConfig: {
      Cmd: ["/bin/sh", "-c", "cat /etc/hello.txt"],
      Env: ["PATH=/usr/bin:/bin"],
    },
    history: [`copy ${PROGRAMS.join(" ")} and their libraries`, "add /etc files"],
    ref: "demo",
  });
  say(`   layer 1: ${PROGRAMS.join(", ")} and ${base.size - PROGRAMS.length} more entries`);
  say(`   layer 2: /etc/hello.txt, /etc/passwd, /etc/group`);
  for (const l of built.layers) say(`     ${short(l.digest)}  ${formatBytes(l.size)} gzip`);
  say(`   written as an OCI layout: ${built.location}`);

  step(2, "Opening the store");
  const store = await openDemoStore(dir, values.driver);
  say(`   graph root ${store.graphRoot}`);
  say(`   run root   ${store.runRoot}`);
  say(`   driver     ${store.driverName}${rootless ? " (rootless, in a user namespace)" : ""}`);

  try {
    await useStore(store, built, dir);
  } finally {
    // Also undoes the driver's own mounts (overlay keeps its home mounted while in use).
    await store.shutdown({ force: true });
  }
  if (values["remove-store"]) {
    await Deno.remove(dir, { recursive: true });
    say(`   store and files removed (${dir})`);
  } else {
    say(`   the store is kept, with the image in it. Look at it with:`);
    say(
      `     deno run -A cli.ts --graph ${store.graphRoot} --run ${store.runRoot} ` +
        `--storage-driver ${store.driverName} images`,
    );
    say(`   or remove it: rm -rf ${dir}   (or run the demo with --remove-store)`);
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());

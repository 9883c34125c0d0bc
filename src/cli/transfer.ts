/**
 * Image transfer commands: `import` (an OCI layout or archive, or a docker
 * archive, into the store) and `export` (an image to an OCI layout or
 * archive). On a terminal they draw a progress line; otherwise they print
 * only the result.
 *
 * @module
 */

import { type Command, type CommandContext, JSON_FLAG } from "./command.ts";
import { flagBool, flagString } from "./flags.ts";
import { jsonLine } from "./output.ts";
import { imageToJSON } from "../records/image_record.ts";
import { parsePlatform } from "../image_io/platform.ts";
import { ProgressLine } from "../image_io/progress_line.ts";
import type { ProgressHandler } from "../image_io/progress.ts";

const QUIET_FLAG = {
  long: "quiet",
  short: "q",
  kind: "bool" as const,
  help: "Print no progress, only the result",
};

/** A handler that redraws a status line at most ten times a second, and its finisher. */
function progressFor(
  ctx: CommandContext,
  verb: string,
): { onProgress?: ProgressHandler; finish(): void } {
  const tty = ctx.out.isTerminal?.() ?? false;
  if (!tty || flagBool(ctx.flags, "quiet") || flagBool(ctx.flags, "json")) {
    return { finish() {} };
  }
  const line = new ProgressLine(verb);
  let last = 0;
  const draw = () => ctx.out.stdout(`\r${line.text()}\x1b[K`);
  return {
    onProgress(e) {
      line.update(e);
      const now = performance.now();
      if (e.kind !== "bytes" || now - last > 100) {
        last = now;
        draw();
      }
    },
    finish() {
      draw();
      ctx.out.stdout("\n");
    },
  };
}

/**
 * Runs `op` with a signal that Ctrl-C aborts, so an interrupted import is
 * rolled back rather than leaving layers behind.
 */
async function interruptible<T>(op: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onInterrupt = () => ac.abort(new Error("interrupted"));
  Deno.addSignalListener("SIGINT", onInterrupt);
  try {
    return await op(ac.signal);
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }
}

async function runImport(ctx: CommandContext): Promise<number> {
  const [source, ...names] = ctx.args;
  const platform = flagString(ctx.flags, "platform");
  const store = await ctx.store();
  const progress = progressFor(ctx, "Importing");
  let result;
  try {
    // The image code is loaded only for this command, not on every CLI start.
    const { importImage } = await import("../image_io/import_image.ts");
    result = await interruptible((signal) =>
      importImage(store, source, {
        names,
        platform: platform ? parsePlatform(platform) : undefined,
        onProgress: progress.onProgress,
        signal,
      })
    );
  } finally {
    progress.finish();
  }
  if (flagBool(ctx.flags, "json")) {
    ctx.out.stdout(jsonLine({
      image: imageToJSON(result.image),
      layers: result.layers,
      created: result.created,
    }));
  } else {
    const image = result.image;
    ctx.out.stdout(`${image.id}\n` + image.names.map((n) => `\t${n}\n`).join(""));
  }
  return 0;
}

async function runExport(ctx: CommandContext): Promise<number> {
  const [image, destination] = ctx.args;
  const store = await ctx.store();
  const progress = progressFor(ctx, "Exporting");
  let result;
  try {
    const { exportImage } = await import("../image_io/export_image.ts");
    result = await exportImage(store, image, destination, { onProgress: progress.onProgress });
  } finally {
    progress.finish();
  }
  if (flagBool(ctx.flags, "json")) ctx.out.stdout(jsonLine(result));
  else ctx.out.stdout(`${result.manifestDigest}\n`);
  return 0;
}

/** The transfer commands. */
export const transferCommands: Command[] = [
  {
    name: "import",
    description: "Import an image from an OCI layout, OCI archive or docker archive",
    usage: "[options [...]] (oci:DIR|oci-archive:FILE|docker-archive:FILE)[:REF] [name [...]]",
    minArgs: 1,
    maxArgs: 0,
    flags: [
      QUIET_FLAG,
      JSON_FLAG,
      {
        long: "platform",
        kind: "string",
        help: "Platform to choose from a multi-platform image (os/arch[/variant])",
        placeholder: "os/arch",
      },
    ],
    run: runImport,
  },
  {
    name: "export",
    description: "Export an image to an OCI layout or OCI archive",
    usage: "[options [...]] imageNameOrID (oci:DIR|oci-archive:FILE)[:REF]",
    minArgs: 2,
    maxArgs: 2,
    flags: [QUIET_FLAG, JSON_FLAG],
    run: runExport,
  },
];

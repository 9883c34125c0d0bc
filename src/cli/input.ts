/**
 * Reading command input from `--file` or standard input.
 *
 * @module
 */

import type { CommandContext } from "./command.ts";

/** The bytes of `file`, or of standard input when no file is given, as a stream. */
export async function inputStream(
  ctx: CommandContext,
  file: string | undefined,
): Promise<ReadableStream<Uint8Array>> {
  if (file === undefined || file === "") return ctx.stdin();
  const f = await Deno.open(file, { read: true });
  return f.readable;
}

/**
 * A layer diff from `file` or standard input: the file itself when one is
 * named (read directly, several times faster than through `readable`).
 */
export async function layerInput(
  ctx: CommandContext,
  file: string | undefined,
): Promise<ReadableStream<Uint8Array> | Deno.FsFile> {
  if (file === undefined || file === "") return ctx.stdin();
  return await Deno.open(file, { read: true });
}

/** All bytes of `file` or standard input. */
export async function readInput(
  ctx: CommandContext,
  file: string | undefined,
): Promise<Uint8Array> {
  return new Uint8Array(await new Response(await inputStream(ctx, file)).arrayBuffer());
}

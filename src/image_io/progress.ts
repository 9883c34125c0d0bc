/**
 * Progress of an import or export, as events a caller may render (the CLI
 * draws one status line on a terminal). The operations never print.
 *
 * @module
 */

/** One step of a transfer. */
export type TransferEvent =
  /** The transfer knows how much there is to do (`bytes`: blob bytes, -1 when unknown). */
  | { kind: "start"; layers: number; bytes: number }
  /** Layer `index` (from 0) begins; `reused` when it is already there and is skipped. */
  | { kind: "layer"; index: number; digest: string; size: number; reused: boolean }
  /** `count` more blob bytes went through. */
  | { kind: "bytes"; count: number }
  /** Layer `index` is finished. */
  | { kind: "layer-done"; index: number };

/** Receives transfer events. */
export type ProgressHandler = (event: TransferEvent) => void;

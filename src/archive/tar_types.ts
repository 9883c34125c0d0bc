/**
 * The shapes shared by the tar reader, the tar writer and everything that
 * walks a tar stream (extraction, tar-split, ID sets). Pure types.
 *
 * @module
 */

/** Tar type flags, as the single header character. */
export const TYPE = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  char: "3",
  block: "4",
  dir: "5",
  fifo: "6",
  contiguous: "7",
  paxLocal: "x",
  paxGlobal: "g",
  gnuLongName: "L",
  gnuLongLink: "K",
} as const;

/** One tar header after GNU long-name/long-link and PAX records were applied. */
export interface TarHeader {
  /** Entry name as text (UTF-8 decoded; see `nameBytes` for the raw form). */
  name: string;
  /** Raw name bytes, for names that are not valid UTF-8. */
  nameBytes: Uint8Array;
  /** Type flag character (`"0"`, `"5"`, …); an old-style `"\0"` regular file is reported as `"0"`. */
  type: string;
  /** Permission bits plus setuid/setgid/sticky (the low 12 bits of the header's mode). */
  mode: number;
  uid: number;
  gid: number;
  /** Size of the entry's content in the stream. */
  size: number;
  /** Modification time, whole seconds since the epoch (may be negative). */
  mtimeSec: number;
  /** Nanosecond part of the modification time (from PAX `mtime`), 0 otherwise. */
  mtimeNsec: number;
  /** Access/change times from PAX records, when present. */
  atime?: { sec: number; nsec: number };
  ctime?: { sec: number; nsec: number };
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes from `SCHILY.xattr.<name>` PAX records. */
  xattrs: Map<string, Uint8Array>;
  /** All PAX records that applied to this entry (local and global), raw. */
  pax: Map<string, string>;
}

/** One entry as the streaming reader yields it. */
export interface TarEntry {
  header: TarHeader;
  /**
   * Every raw byte the reader consumed since the end of the previous entry's
   * content: the previous entry's block padding, extended headers (PAX `x`/`g`,
   * GNU `L`/`K`) with their data, and this entry's own 512-byte header.
   * Concatenating, for all entries, `raw` + content, then the reader's
   * trailer, gives back the input stream byte for byte (tar-split relies on it).
   */
  raw: Uint8Array;
  /**
   * The entry's content in chunks (exactly `header.size` bytes in all).
   * A chunk is only valid until the next one is requested. Content not read
   * before `next()` is skipped (and still counted in the stream's bytes).
   */
  body(): AsyncIterable<Uint8Array>;
}

/** The streaming tar reader. */
export interface TarReader {
  /** The next entry, or null at the end of the archive (two zero blocks or EOF). */
  next(): Promise<TarEntry | null>;
  /**
   * After `next()` returned null: the raw bytes the parser consumed after the
   * last entry's content (its padding and the end-of-archive blocks).
   */
  trailer(): Uint8Array;
  /**
   * After `trailer()`: any further bytes of the input up to EOF, in chunks
   * (tar-split records them so that reassembly is byte-identical).
   */
  rest(): AsyncIterable<Uint8Array>;
}

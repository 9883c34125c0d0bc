/**
 * `layers --tree`: layers drawn as a tree under their parents.
 *
 * @module
 */

import type { Layer } from "../records/layer_record.ts";
import type { Image } from "../records/image_record.ts";
import type { Container } from "../records/container_record.ts";

/**
 * Renders the tree. Roots are parent values that are not listed layers
 * (`(base)` for none); the root with the fewest children is drawn first,
 * then the next, until every layer was drawn.
 */
export function layerTree(layers: Layer[], images: Image[], containers: Container[]): string {
  const listed = new Set(layers.map((l) => l.id));
  const children = new Map<string, Layer[]>();
  for (const l of layers) {
    const key = l.parent === "" ? "(base)" : l.parent;
    children.set(key, [...(children.get(key) ?? []), l]);
  }
  const notes = (l: Layer): string[] => {
    const out = l.names.map((n) => `name: ${n}`);
    if (l.mountCount > 0 && l.mountPoint) out.push(`mount: ${l.mountPoint}`);
    for (const i of images.filter((i) => i.topLayer === l.id || i.mappedTopLayers.includes(l.id))) {
      out.push(`image: ${i.id}`);
      for (const n of i.names) out.push(`image name: ${n}`);
    }
    for (const c of containers.filter((c) => c.layerID === l.id)) {
      out.push(`container: ${c.id}`);
      for (const n of c.names) out.push(`container name: ${n}`);
    }
    return out;
  };
  const drawn = new Set<string>();
  let text = "";
  const draw = (l: Layer, prefix: string, last: boolean) => {
    drawn.add(l.id);
    text += `${prefix}${last ? "└─" : "├─"}${l.id}\n`;
    for (const note of notes(l)) text += `${prefix}${last ? " " : "│"} ${note}\n`;
    const kids = (children.get(l.id) ?? []).filter((k) => !drawn.has(k.id));
    kids.forEach((k, i) => draw(k, prefix + (last ? "  " : "│ "), i === kids.length - 1));
  };
  for (;;) {
    const roots = [...children.keys()].filter((p) =>
      !listed.has(p) &&
      (children.get(p) ?? []).some((k) => !drawn.has(k.id))
    );
    if (roots.length === 0) break;
    roots.sort((a, b) => children.get(a)!.length - children.get(b)!.length);
    const root = roots[0];
    text += `${root}\n`;
    const kids = children.get(root)!.filter((k) => !drawn.has(k.id));
    kids.forEach((k, i) => draw(k, "", i === kids.length - 1));
  }
  return text;
}

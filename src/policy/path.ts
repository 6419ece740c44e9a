// The readings of a request path live in the edge package (edge/src/paths.ts): pure string work
// with no Node.js API, shared so the gate and the edge read every path the same ways. See there.
export { normalizePath, readPath, type NormalizedPath, type PathReading, type ReadPath } from '../../edge/src/paths.ts';

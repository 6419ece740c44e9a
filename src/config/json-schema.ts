// The JSON Schema of the config, generated from the zod schema (the input side: what an
// operator writes, with defaults). Editors use the committed copy in docs/config.schema.json;
// the loader uses it to suggest known keys.
import { z } from 'zod';
import { configSchema } from './schema.ts';

export type JsonSchema = Record<string, unknown>;

let cached: JsonSchema | undefined;

/** The config's JSON Schema (draft 2020-12). Shared and cached: do not mutate it. */
export function configJsonSchema(): JsonSchema {
  cached ??= z.toJSONSchema(configSchema, { io: 'input' }) as JsonSchema;
  return cached;
}

// `npm run gen:docs`: regenerate docs/config.schema.json and docs/config-reference.md from the
// config schema. src/config/docs.test.ts fails when the committed files drift from the schema.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REFERENCE_FILE, SCHEMA_FILE, renderConfigReference, renderJsonSchema } from '../src/config/docs.ts';

const root = join(import.meta.dirname, '..');
await writeFile(join(root, SCHEMA_FILE), renderJsonSchema());
await writeFile(join(root, REFERENCE_FILE), renderConfigReference());
console.log(`wrote ${SCHEMA_FILE} and ${REFERENCE_FILE}`);

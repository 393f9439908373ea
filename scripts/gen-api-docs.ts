import { readFileSync, writeFileSync } from 'node:fs';
import { withApiReference } from '../src/pipeline/api-reference.ts';

const file = new URL('../docs/api.md', import.meta.url);
writeFileSync(file, withApiReference(readFileSync(file, 'utf8')));

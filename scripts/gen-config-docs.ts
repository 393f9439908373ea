import { writeFileSync } from 'node:fs';
import { renderConfigReference } from '../src/config/reference.ts';

writeFileSync(new URL('../docs/configuration.md', import.meta.url), renderConfigReference());

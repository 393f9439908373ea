import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { renderConfigReference } from '../../../src/config/reference.ts';

it('docs/configuration.md is up to date with the schema (npm run docs:config)', () => {
  const committed = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
  expect(committed).toBe(renderConfigReference());
});

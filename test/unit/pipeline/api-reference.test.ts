import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { withApiReference } from '../../../src/pipeline/api-reference.ts';
import { openApiDocument } from '../../../src/pipeline/openapi.ts';

it('docs/api.md holds the reference generated from the schemas (npm run docs:api)', () => {
  const committed = readFileSync(new URL('../../../docs/api.md', import.meta.url), 'utf8');
  expect(committed).toBe(withApiReference(committed));
});

it('the OpenAPI document is 3.1 and every reference resolves', () => {
  const doc = openApiDocument() as any;
  expect(doc.openapi).toBe('3.1.0');
  const refs = JSON.stringify(doc).match(/#\/components\/schemas\/[A-Za-z0-9]+/g) ?? [];
  for (const ref of refs) expect(doc.components.schemas[ref.split('/').pop()!], ref).toBeDefined();
});

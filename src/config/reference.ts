/**
 * Renders the configuration reference (docs/configuration.md) from the schema.
 * test/unit/config/reference.test.ts fails when the committed file differs.
 */
import { fields } from './schema.ts';

export function renderConfigReference(): string {
  const rows = fields.map((f) => {
    const parsed = (f.schema as { safeParse(v: unknown): { success: boolean; data?: unknown } }).safeParse(undefined);
    const dflt = f.defaultText ?? (parsed.success && parsed.data !== undefined ? String(parsed.data) : '(required)');
    return `| \`--${f.flag}\` | ${[f.env, ...(f.envAliases ?? [])].map((n) => `\`${n}\``).join(' or ')} | ${f.type} | \`${dflt}\` | ${f.doc.replace(/\|/g, '\\|')} |`;
  });
  return [
    '<!-- Generated from src/config/schema.ts by `npm run docs:config`; do not edit. -->',
    '# Configuration reference',
    '',
    'Every setting is a flag of `sark serve` and a `SARK_*` environment variable; a flag wins over the',
    'variable, the variable over the default. Values are validated at start-up: a bad value stops the',
    'process (exit code 78) with a message naming the field, where it came from and the expected form.',
    'A few settings are also read from a second variable whose name is fixed elsewhere (the MCP Gateway',
    "Registry's `GATEWAY_*`); set either, or both to the same value: different values stop the process.",
    '',
    '| flag | environment | type | default | meaning |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

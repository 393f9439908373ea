/**
 * `sark inject` options: the webhook's own table of fields (flag, SARK_INJECT_*
 * variable, default, doc line), read and validated like the sidecar's config
 * (src/config/load.ts). Everything the injected containers get is decided
 * here, once, at start-up; a bad value stops the webhook before it answers
 * any pod.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { type ConfigSources, loadConfig, parseFields } from '../config/load.ts';
import {
  absPath,
  address,
  type FieldSpec,
  type FieldType,
  fields,
  httpUrl,
  int,
  passthroughList,
} from '../config/schema.ts';
import { ConfigError } from '../errors.ts';

/** A Kubernetes resource quantity (resource.Quantity's text form). */
export const quantity = z
  .string()
  .regex(/^([+]?[0-9.]+)([eE][-+]?[0-9]+|[numkMGTPE]i?|m|k)?$/, 'expected a Kubernetes quantity such as 100m or 64Mi');

export const resourceRequirements = z
  .object({
    requests: z.object({ cpu: quantity.optional(), memory: quantity.optional() }).strict().optional(),
    limits: z.object({ cpu: quantity.optional(), memory: quantity.optional() }).strict().optional(),
  })
  .strict();
export type ResourceRequirements = z.output<typeof resourceRequirements>;

const jsonResources = z.string().transform((text, ctx) => {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'expected JSON such as {"requests":{"cpu":"50m"}}' });
    return z.NEVER;
  }
  const parsed = resourceRequirements.safeParse(value);
  if (!parsed.success) {
    ctx.addIssue({
      code: 'custom',
      message: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
    });
    return z.NEVER;
  }
  return parsed.data;
});

const hostList = z
  .string()
  .regex(
    /^[A-Za-z0-9.{}*:[\]-]+(,[A-Za-z0-9.{}*:[\]-]+)*$/,
    'expected comma-separated host names such as {serverId}.{namespace}.svc',
  );

const image = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._\-/:@]*$/, 'expected an image reference such as ghcr.io/org/sark:0.1.0')
  .max(512);

const port = int(1, 65535);

/**
 * GOGC of the injected OPA: the heap may grow to 3 × what the last
 * collection left instead of 2 ×. Measured (loadtest/micro/opa-settings.ts,
 * results/micro-opa-settings.json): about 20 % less OPA CPU per decision on
 * the cache-miss path for about 9 MiB more RSS.
 */
export const OPA_GOGC_DEFAULT = 200;

function field<K extends string, T extends z.ZodType>(
  key: K,
  flag: string,
  type: FieldType,
  schema: T,
  doc: string,
  defaultText?: string,
): FieldSpec<K, T> {
  const env = `SARK_INJECT_${flag.replace(/-/g, '_').toUpperCase()}`;
  return { key, flag, env, type, schema, doc, ...(defaultText === undefined ? {} : { defaultText }) };
}

export const injectFields = [
  field('listen', 'listen', 'address', address.default('0.0.0.0:8443'), 'HTTPS listener for AdmissionReviews.'),
  field('tlsCertFile', 'tls-cert-file', 'path', z.string().min(1), 'PEM certificate (chain) the webhook serves.'),
  field('tlsKeyFile', 'tls-key-file', 'path', z.string().min(1), 'PEM private key of that certificate.'),
  field(
    'tlsReloadMs',
    'tls-reload-ms',
    'integer',
    int(0, 86_400_000).default(60_000),
    'How often the certificate files are re-read (rotation by cert-manager or a Secret update), in ms; 0: never.',
  ),
  field('sidecarImage', 'sidecar-image', 'string', image, 'Image of the SARK sidecar (also runs the init container).'),
  field(
    'initImage',
    'init-image',
    'string',
    image.optional(),
    'Image of the init container that installs the iptables rules (ships deploy/iptables/sark-redirect.sh).',
    '(sidecarImage)',
  ),
  field(
    'opaImage',
    'opa-image',
    'string',
    image.default('openpolicyagent/opa:1.22.2-static'),
    'Image of the OPA container injected beside SARK.',
  ),
  field(
    'imagePullPolicy',
    'image-pull-policy',
    'enum',
    z.enum(['IfNotPresent', 'Always', 'Never']).default('IfNotPresent'),
    'Pull policy of the injected containers.',
  ),
  field(
    'sidecarUid',
    'sidecar-uid',
    'integer',
    int(1, 2_147_483_647).default(1337),
    'UID (and GID) of the SARK and OPA containers. The iptables rules let this UID through to the MCP port, so no application container may run as it.',
  ),
  field('sidecarPort', 'sidecar-port', 'integer', port.default(15080), 'Port of the SARK data listener in the pod.'),
  field(
    'sidecarAdminPort',
    'sidecar-admin-port',
    'integer',
    port.default(15090),
    'Port of the SARK admin listener (/healthz, /readyz, /metrics; probed by the kubelet).',
  ),
  field('opaPort', 'opa-port', 'integer', port.default(15181), 'Port of the OPA API, bound to 127.0.0.1 in the pod.'),
  field(
    'opaDiagnosticPort',
    'opa-diagnostic-port',
    'integer',
    port.default(15182),
    "Port of OPA's diagnostic listener (/health only; probed by the kubelet).",
  ),
  field(
    'opaGogc',
    'opa-gogc',
    'integer',
    int(25, 1000).default(OPA_GOGC_DEFAULT),
    "Go's GOGC for the injected OPA: higher spends memory to save garbage-collection CPU on every decision SARK does not find in its cache.",
  ),
  field(
    'opaBundleUrl',
    'opa-bundle-url',
    'url',
    httpUrl,
    'Base URL of the bundle service OPA downloads the policy bundle from, e.g. http://sark-bundles.sark-system.svc.',
  ),
  field(
    'opaBundleResource',
    'opa-bundle-resource',
    'string',
    z
      .string()
      .regex(/^[A-Za-z0-9._/-]+$/, 'expected a path such as bundles/sark.tar.gz')
      .default('bundles/sark.tar.gz'),
    'Bundle path under opaBundleUrl; a pod overrides it with the sark.io/policy-bundle annotation.',
  ),
  field(
    'mcpPath',
    'mcp-path',
    'path',
    absPath.default('/mcp'),
    'MCP path of the protected servers (annotation sark.io/mcp-path overrides).',
  ),
  field(
    'passthroughPaths',
    'passthrough-paths',
    'string',
    passthroughList.optional(),
    "Paths every injected SARK passes through to the server (annotation sark.io/passthrough-paths adds to them); the pod's HTTP probe paths on the MCP port are always added.",
    '(none)',
  ),
  field(
    'sidecarResources',
    'sidecar-resources',
    'string',
    jsonResources.default({ requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '256Mi' } }),
    'Resources of the SARK container, as JSON (annotation sark.io/resources overrides).',
    '{"requests":{"cpu":"50m","memory":"96Mi"},"limits":{"memory":"256Mi"}}',
  ),
  field(
    'opaResources',
    'opa-resources',
    'string',
    jsonResources.default({ requests: { cpu: '25m', memory: '64Mi' }, limits: { memory: '256Mi' } }),
    'Resources of the OPA container, as JSON.',
    '{"requests":{"cpu":"25m","memory":"64Mi"},"limits":{"memory":"256Mi"}}',
  ),
  field(
    'sidecarLogLevel',
    'sidecar-log-level',
    'enum',
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    'Log level of the injected SARK (annotation sark.io/log-level overrides).',
  ),
  field(
    'sidecarAllowedHosts',
    'sidecar-allowed-hosts',
    'string',
    hostList.optional(),
    'Comma-separated Host names the injected SARK accepts (SARK_ALLOWED_HOSTS); {serverId} and {namespace} are filled per pod, e.g. {serverId}.{namespace}.svc.',
    '(sidecar default)',
  ),
  field(
    'sidecarAllowedOrigins',
    'sidecar-allowed-origins',
    'string',
    z
      .string()
      .regex(
        /^[A-Za-z0-9.:/{}*-]+(,[A-Za-z0-9.:/{}*-]+)*$/,
        'expected comma-separated origins such as https://app.example.com',
      )
      .optional(),
    'Comma-separated browser origins the injected SARK accepts (SARK_ALLOWED_ORIGINS); placeholders as for sidecarAllowedHosts.',
    '(sidecar default)',
  ),
  field(
    'sidecarEnvFile',
    'sidecar-env-file',
    'path',
    z.string().min(1).optional(),
    'JSON object of SARK_* variables given to every injected SARK (Redis, ClickHouse, SIEM, …); checked against the sidecar schema at start-up. No secrets: use sidecarSecretName.',
    '(none)',
  ),
  field(
    'sidecarSecretName',
    'sidecar-secret-name',
    'string',
    z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'expected a Secret name')
      .max(253)
      .optional(),
    "Secret in the pod's namespace whose keys (SARK_* variables: passwords, tokens) the sidecar reads (optional: absent is not an error).",
    '(none)',
  ),
  field(
    'excludeNamespaces',
    'exclude-namespaces',
    'string',
    z
      .string()
      .regex(/^[a-z0-9-]+(,[a-z0-9-]+)*$/, 'expected comma-separated namespace names')
      .transform((v) => v.split(','))
      .default(['kube-system', 'kube-public', 'kube-node-lease']),
    'Namespaces never injected, whatever their labels (the webhook adds its own namespace in the chart).',
    'kube-system,kube-public,kube-node-lease',
  ),
  field(
    'logLevel',
    'log-level',
    'enum',
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    "The webhook's own log level.",
  ),
] as const;

type Fields = typeof injectFields;
type FieldByKey<K extends Fields[number]['key']> = Extract<Fields[number], { key: K }>;
type Parsed = { [K in Fields[number]['key']]: z.output<FieldByKey<K>['schema']> };

export interface InjectOptions extends Omit<Parsed, 'sidecarEnvFile' | 'initImage'> {
  readonly initImage: string;
  /** SARK_* variables for every sidecar, from sidecarEnvFile (validated). */
  readonly sidecarEnv: Readonly<Record<string, string>>;
}

export const injectSchema = z
  .object(
    Object.fromEntries(injectFields.map((f) => [f.key, f.schema])) as {
      [K in Fields[number]['key']]: FieldByKey<K>['schema'];
    },
  )
  .strict();

/** Variables the webhook sets itself; an env file may not override them. */
export const MANAGED_ENV = new Set([
  'SARK_LISTEN',
  'SARK_ADMIN_LISTEN',
  'SARK_MCP_PATH',
  'SARK_UPSTREAM_URL',
  'SARK_OPA_URL',
  'SARK_SERVER_ID',
  'SARK_LOG_LEVEL',
  'SARK_PASSTHROUGH_PATHS',
  'SARK_ALLOWED_HOSTS',
  'SARK_ALLOWED_ORIGINS',
]);

export function loadInjectOptions(sources: ConfigSources = {}): InjectOptions {
  const parsed = parseFields(injectFields, injectSchema, sources) as Parsed;
  const sidecarEnv = parsed.sidecarEnvFile ? readSidecarEnv(parsed.sidecarEnvFile) : {};
  const ports = [parsed.sidecarPort, parsed.sidecarAdminPort, parsed.opaPort, parsed.opaDiagnosticPort];
  if (new Set(ports).size !== ports.length)
    throw new ConfigError(
      `sidecarPort, sidecarAdminPort, opaPort and opaDiagnosticPort must differ (got ${ports.join(', ')})`,
    );
  const { sidecarEnvFile: _f, initImage, ...rest } = parsed;
  return { ...rest, initImage: initImage ?? parsed.sidecarImage, sidecarEnv };
}

/**
 * The sidecar variables file: a flat JSON object of SARK_* names the sidecar
 * schema knows, whose values that schema accepts, so that a typo fails the
 * webhook at start-up instead of every injected pod at run time.
 */
export function readSidecarEnv(path: string): Record<string, string> {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`sidecarEnvFile (${path}): cannot read a JSON object: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new ConfigError(`sidecarEnvFile (${path}): expected a JSON object of SARK_* variables`);
  const known = new Set(fields.map((f) => f.env));
  const env: Record<string, string> = {};
  for (const [name, v] of Object.entries(value)) {
    if (!known.has(name)) throw new ConfigError(`sidecarEnvFile (${path}): ${name} is not a SARK setting`);
    if (MANAGED_ENV.has(name)) throw new ConfigError(`sidecarEnvFile (${path}): ${name} is set by the webhook per pod`);
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
      throw new ConfigError(`sidecarEnvFile (${path}): ${name} must be a string, number or boolean`);
    env[name] = String(v);
  }
  // The sidecar's own validation, on exactly what each sidecar will read.
  loadConfig({ argv: [], env });
  return env;
}

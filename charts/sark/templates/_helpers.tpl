{{/*
Names, labels, images and value checks of the SARK chart.
*/}}

{{- define "sark.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sark.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "sark.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sark.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sark.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end -}}

{{- define "sark.labels" -}}
{{ include "sark.selectorLabels" . }}
helm.sh/chart: {{ include "sark.chart" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sark
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "sark.annotations" -}}
{{- with .Values.commonAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "sark.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sark.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "sark.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "sark.fullname" .)) .Values.tls.existingSecret -}}
{{- end -}}

{{/* The Service's DNS names: what the API server dials and the certificate must name. */}}
{{- define "sark.serviceDnsNames" -}}
{{- $svc := include "sark.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.clusterDomain) | toJson -}}
{{- end -}}

{{/* registry/repository[:tag|@digest], with global.imageRegistry winning. */}}
{{- define "sark.imageRef" -}}
{{- $image := .image -}}
{{- $registry := default $image.registry .global.imageRegistry -}}
{{- $ref := $image.repository -}}
{{- if $registry }}{{ $ref = printf "%s/%s" $registry $ref }}{{ end -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $ref $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (toString (default .appVersion $image.tag)) -}}
{{- end -}}
{{- end -}}

{{- define "sark.image" -}}
{{- include "sark.imageRef" (dict "image" .Values.image "global" .Values.global "appVersion" .Chart.AppVersion) -}}
{{- end -}}

{{- define "sark.opaImage" -}}
{{- include "sark.imageRef" (dict "image" .Values.opa.image "global" .Values.global "appVersion" .Chart.AppVersion) -}}
{{- end -}}

{{- define "sark.imagePullSecrets" -}}
{{- $secrets := concat .Values.global.imagePullSecrets .Values.image.pullSecrets | uniq -}}
{{- if $secrets }}
imagePullSecrets:
{{- range $secrets }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Excluded namespaces: the configured ones and the release's own. */}}
{{- define "sark.excludeNamespaces" -}}
{{- concat .Values.webhook.excludeNamespaces (list .Release.Namespace) | uniq | toJson -}}
{{- end -}}

{{/* SARK_* variables every injected SARK gets (non-secret settings only). */}}
{{- define "sark.sidecarEnv" -}}
{{- $s := .Values.sidecar -}}
{{- $env := dict -}}
{{- with $s.redis.url }}{{ $_ := set $env "SARK_REDIS_URL" . }}{{ end -}}
{{- if ne $s.redis.mode "standalone" }}{{ $_ := set $env "SARK_REDIS_MODE" $s.redis.mode }}{{ end -}}
{{- with $s.redis.nodes }}{{ $_ := set $env "SARK_REDIS_NODES" . }}{{ end -}}
{{- with $s.clickhouse.url }}
{{- $_ := set $env "SARK_AUDIT_CLICKHOUSE_URL" . -}}
{{- $_ := set $env "SARK_AUDIT_CLICKHOUSE_DATABASE" $s.clickhouse.database -}}
{{- $_ := set $env "SARK_AUDIT_CLICKHOUSE_USER" $s.clickhouse.user -}}
{{- end -}}
{{- with $s.siem.splunk.url }}{{ $_ := set $env "SARK_SPLUNK_HEC_URL" . }}{{ end -}}
{{- with $s.siem.splunk.index }}{{ $_ := set $env "SARK_SPLUNK_INDEX" . }}{{ end -}}
{{- if ne $s.siem.datadog.site "datadoghq.com" }}{{ $_ := set $env "SARK_DATADOG_SITE" $s.siem.datadog.site }}{{ end -}}
{{- with $s.siem.datadog.tags }}{{ $_ := set $env "SARK_DATADOG_TAGS" . }}{{ end -}}
{{- range $k, $v := $s.extraEnv }}{{ $_ := set $env $k (toString $v) }}{{ end -}}
{{- toPrettyJson $env -}}
{{- end -}}

{{/* Refuses value combinations the schema cannot express, with a message naming the value. */}}
{{- define "sark.validateValues" -}}
{{- $messages := list -}}
{{- if not .Values.opa.bundle.serviceUrl -}}
{{- $messages = append $messages "opa.bundle.serviceUrl: set the bundle service the injected OPA downloads the policy from (docs/kubernetes.md)" -}}
{{- end -}}
{{- if and .Values.tls.certManager.enabled .Values.tls.existingSecret -}}
{{- $messages = append $messages "tls: choose tls.certManager.enabled or tls.existingSecret, not both" -}}
{{- end -}}
{{- $ports := list (int .Values.sidecar.ports.data) (int .Values.sidecar.ports.admin) (int .Values.opa.ports.api) (int .Values.opa.ports.diagnostic) -}}
{{- if ne (len (uniq $ports)) 4 -}}
{{- $messages = append $messages "sidecar.ports.data, sidecar.ports.admin, opa.ports.api and opa.ports.diagnostic must all differ" -}}
{{- end -}}
{{- if and .Values.webhook.pdb.create (lt (int .Values.webhook.replicaCount) 2) (not .Values.webhook.pdb.maxUnavailable) -}}
{{- $messages = append $messages "webhook.pdb: with one replica and minAvailable, a node drain would block; use webhook.replicaCount >= 2 or set webhook.pdb.maxUnavailable" -}}
{{- end -}}
{{- range $k, $v := .Values.sidecar.extraEnv -}}
{{- if not (regexMatch "^SARK_[A-Z0-9_]+$" $k) -}}
{{- $messages = append $messages (printf "sidecar.extraEnv.%s: names must be SARK_* variables" $k) -}}
{{- end -}}
{{- end -}}
{{- if $messages -}}
{{- printf "\nVALUES VALIDATION:\n%s" (join "\n" $messages) | fail -}}
{{- end -}}
{{- end -}}

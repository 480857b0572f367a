{{/*
Helpers of the lameduck library chart. Every template takes the including
chart's root context (.) and reads the values under .Values.lameduck, so the
dependency must keep its name "lameduck" (no alias).
*/}}

{{- define "lameduck.v" -}}
{{- if not (hasKey .Values "lameduck") -}}
{{- fail "lameduck: the values must sit under the key \"lameduck\" (the dependency's name; aliases are not supported)" -}}
{{- end -}}
{{- end -}}

{{- define "lameduck.fullname" -}}
{{- $v := .Values.lameduck -}}
{{- if $v.fullnameOverride -}}
{{- $v.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-lameduck" .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "lameduck.labels" -}}
app.kubernetes.io/name: lameduck
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: graceful-exit-sidecar
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/* Labels for the pod template: the monitors select pods and services by them. */}}
{{- define "lameduck.podLabels" -}}
lameduck/sidecar: {{ include "lameduck.fullname" . }}
{{- end -}}

{{- define "lameduck.image" -}}
{{- $i := .Values.lameduck.image -}}
{{- if $i.digest -}}
{{- printf "%s@%s" $i.repository $i.digest -}}
{{- else -}}
{{- printf "%s:%s" $i.repository (required "lameduck.image.tag (or image.digest) is required" $i.tag) -}}
{{- end -}}
{{- end -}}

{{/* True (non-empty) when the kubernetes traffic backend is used. */}}
{{- define "lameduck.kubeBackend" -}}
{{- $t := .Values.lameduck.config.traffic | default dict -}}
{{- if eq (default "none" $t.backend) "kubernetes" -}}true{{- end -}}
{{- end -}}

{{- define "lameduck.serviceAccountName" -}}
{{- $sa := .Values.lameduck.serviceAccount -}}
{{- if $sa.create -}}
{{- default (include "lameduck.fullname" .) $sa.name -}}
{{- else -}}
{{- required "lameduck.serviceAccount.name: the existing service account the Role is bound to (serviceAccount.create is false)" $sa.name -}}
{{- end -}}
{{- end -}}

{{/* The target of the kubernetes traffic backend: group, resource, namespace, name. */}}
{{- define "lameduck.trafficTarget" -}}
{{- $k := .Values.lameduck.config.traffic.kubernetes | default dict -}}
{{- $group := "" -}}
{{- if contains "/" $k.api_version -}}{{- $group = (splitList "/" $k.api_version | first) -}}{{- end -}}
{{- /* The same rule as lameduck's pluralOf (src/kube/object.cpp). */ -}}
{{- $resource := $k.resource -}}
{{- if not $resource -}}
{{- $kind := lower $k.kind -}}
{{- if hasSuffix "endpoints" $kind -}}
{{- $resource = $kind -}}
{{- else if or (hasSuffix "s" $kind) (hasSuffix "x" $kind) (hasSuffix "z" $kind) (hasSuffix "ch" $kind) (hasSuffix "sh" $kind) -}}
{{- $resource = printf "%ses" $kind -}}
{{- else if and (hasSuffix "y" $kind) (not (regexMatch "[aeiou]y$" $kind)) -}}
{{- $resource = printf "%sies" (trimSuffix "y" $kind) -}}
{{- else -}}
{{- $resource = printf "%ss" $kind -}}
{{- end -}}
{{- end -}}
group: {{ $group | quote }}
resource: {{ $resource | quote }}
namespace: {{ default .Release.Namespace $k.namespace | quote }}
name: {{ $k.name | quote }}
{{- end -}}

{{/*
Checks that need more than one value (the schema checks each value alone).
Fails rendering with a message naming the values to change.
*/}}
{{- define "lameduck.validate" -}}
{{- include "lameduck.v" . -}}
{{- $v := .Values.lameduck -}}
{{- $c := $v.config -}}
{{- $t := $c.traffic | default dict -}}
{{- if and $v.podMonitor.enabled $v.serviceMonitor.enabled -}}
{{- fail "lameduck: enable podMonitor or serviceMonitor, not both (every sidecar would be scraped twice)" -}}
{{- end -}}
{{- if eq (int $v.adminPort) (int $v.metricsPort) -}}
{{- fail (printf "lameduck: adminPort and metricsPort are both %v; they must differ" $v.adminPort) -}}
{{- end -}}
{{- if and (eq $v.mode "native") (semverCompare "<1.29.0-0" .Capabilities.KubeVersion.Version) -}}
{{- fail (printf "lameduck: mode native needs Kubernetes 1.29 or later (init containers with restartPolicy: Always); this cluster is %s: use mode: classic" .Capabilities.KubeVersion.Version) -}}
{{- end -}}
{{- $backend := default "none" $t.backend -}}
{{- if eq $backend "kubernetes" -}}
{{- $k := $t.kubernetes | default dict -}}
{{- range $key := list "api_version" "kind" "name" "patch" -}}
{{- if not (index $k $key) -}}
{{- fail (printf "lameduck: config.traffic.kubernetes.%s is required when config.traffic.backend is kubernetes" $key) -}}
{{- end -}}
{{- end -}}
{{- else if eq $backend "haproxy" -}}
{{- if not (($t.haproxy | default dict).server) -}}
{{- fail "lameduck: config.traffic.haproxy.server (backend/server) is required when config.traffic.backend is haproxy" -}}
{{- end -}}
{{- else if eq $backend "webhook" -}}
{{- if not (($t.webhook | default dict).url) -}}
{{- fail "lameduck: config.traffic.webhook.url is required when config.traffic.backend is webhook" -}}
{{- end -}}
{{- end -}}
{{- $co := $c.coordination | default dict -}}
{{- if and (or $co.service $co.wait_for) (not ((($c.compensation | default dict).redis | default dict).address)) -}}
{{- fail "lameduck: config.coordination needs Redis: set config.compensation.redis.address" -}}
{{- end -}}
{{- end -}}

{{/* lameduck's config file: config plus the keys derived from other values. */}}
{{- define "lameduck.configYaml" -}}
{{- $v := .Values.lameduck -}}
{{- $cfg := deepCopy $v.config -}}
{{- range $section := list "admin" "metrics" "exit" "compensation" "traffic" -}}
{{- if not (index $cfg $section) -}}{{- $_ := set $cfg $section dict -}}{{- end -}}
{{- end -}}
{{- $_ := set $cfg.admin "listen" (printf "0.0.0.0:%d" (int $v.adminPort)) -}}
{{- $_ := set $cfg.metrics "listen" (printf "0.0.0.0:%d" (int $v.metricsPort)) -}}
{{- $_ := set $cfg.exit "grace_period" (printf "%ds" (int $v.terminationGracePeriodSeconds)) -}}
{{- $_ := set $cfg.compensation "spool" "/var/lib/lameduck/spool" -}}
{{- if include "lameduck.kubeBackend" . -}}
{{- $k := deepCopy ($cfg.traffic.kubernetes | default dict) -}}
{{- $_ := set $k "namespace" (default .Release.Namespace $k.namespace) -}}
{{- $_ := set $cfg.traffic "kubernetes" $k -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/*
The objects the sidecar needs beside the pod: its config, and only when
they are asked for, RBAC (kubernetes traffic backend) and a monitor.
Include once per release: {{ include "lameduck.resources" . }}
*/}}
{{- define "lameduck.resources" -}}
{{- include "lameduck.validate" . -}}
{{- $v := .Values.lameduck -}}
{{- $name := include "lameduck.fullname" . -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $name }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "lameduck.labels" . | nindent 4 }}
data:
  lameduck.yaml: |
    {{- include "lameduck.configYaml" . | nindent 4 }}
{{- if include "lameduck.kubeBackend" . }}
{{- $target := include "lameduck.trafficTarget" . | fromYaml }}
{{- $sa := include "lameduck.serviceAccountName" . }}
{{- if $v.serviceAccount.create }}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ $sa }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "lameduck.labels" . | nindent 4 }}
{{- end }}
---
# Exactly what the kubernetes traffic backend does: read and patch the one
# object config.traffic.kubernetes names, nothing else.
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ $name }}-traffic
  namespace: {{ $target.namespace }}
  labels:
    {{- include "lameduck.labels" . | nindent 4 }}
rules:
  - apiGroups: [{{ $target.group | quote }}]
    resources: [{{ $target.resource | quote }}]
    resourceNames: [{{ $target.name | quote }}]
    verbs: ["get", "patch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ $name }}-traffic
  namespace: {{ $target.namespace }}
  labels:
    {{- include "lameduck.labels" . | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ $name }}-traffic
subjects:
  - kind: ServiceAccount
    name: {{ $sa }}
    namespace: {{ .Release.Namespace }}
{{- end }}
{{- if $v.podMonitor.enabled }}
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata:
  name: {{ $name }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "lameduck.labels" . | nindent 4 }}
    {{- with $v.podMonitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "lameduck.podLabels" . | nindent 6 }}
  podMetricsEndpoints:
    - port: ld-metrics
      path: /metrics
      interval: {{ $v.podMonitor.interval }}
{{- end }}
{{- if $v.serviceMonitor.enabled }}
---
# A headless Service over the sidecars' metrics ports, for the ServiceMonitor.
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}-metrics
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "lameduck.labels" . | nindent 4 }}
    lameduck/metrics: {{ $name }}
spec:
  clusterIP: None
  selector:
    {{- include "lameduck.podLabels" . | nindent 4 }}
  ports:
    - {name: ld-metrics, port: {{ int $v.metricsPort }}, targetPort: ld-metrics, protocol: TCP}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ $name }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "lameduck.labels" . | nindent 4 }}
    {{- with $v.serviceMonitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      lameduck/metrics: {{ $name }}
  endpoints:
    - port: ld-metrics
      path: /metrics
      interval: {{ $v.serviceMonitor.interval }}
{{- end }}
{{- end -}}

{{/* For the including chart's NOTES.txt. */}}
{{- define "lameduck.notes" -}}
{{- $v := .Values.lameduck -}}
lameduck ({{ $v.mode }} sidecar) guards the exits of this release's pods.
  grace period: {{ $v.terminationGracePeriodSeconds }}s (terminationGracePeriodSeconds = exit.grace_period)
  config:       kubectl -n {{ .Release.Namespace }} get configmap {{ include "lameduck.fullname" . }} -o yaml
  exit summary: kubectl -n {{ .Release.Namespace }} logs POD -c lameduck | grep '"audit":true'
  live status:  kubectl -n {{ .Release.Namespace }} port-forward POD {{ $v.adminPort }} & curl -s localhost:{{ $v.adminPort }}/status
  metrics:      port {{ $v.metricsPort }} (ld-metrics){{ if $v.podMonitor.enabled }}, scraped through PodMonitor {{ include "lameduck.fullname" . }}{{ else if $v.serviceMonitor.enabled }}, scraped through ServiceMonitor {{ include "lameduck.fullname" . }}{{ end }}
{{- if include "lameduck.kubeBackend" . }}
{{- $target := include "lameduck.trafficTarget" . | fromYaml }}
  traffic:      patches {{ $target.resource }}/{{ $target.name }} in {{ $target.namespace }} (Role {{ include "lameduck.fullname" . }}-traffic: get, patch on that object only)
{{- end }}
{{- with (($v.config.metrics | default dict).pushgateway | default dict).url }}
  pushgateway:  final exit metrics go to {{ . }}
{{- end }}
If preStop calls are refused (403), the kubelet reaches the pod from an
address outside config.admin.allow_cidrs: see
lameduck_admin_requests_denied_total{reason="source"} and add it.
{{- end -}}

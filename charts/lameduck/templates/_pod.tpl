{{/*
What goes into the pod template of the workload that gets the sidecar.
A Deployment (or StatefulSet, DaemonSet, Job) template includes:

  metadata:
    labels:      {{- include "lameduck.podLabels" . | nindent 8 }}
    annotations: {{- include "lameduck.podAnnotations" . | nindent 8 }}
  spec:
    {{- include "lameduck.podSpec" . | nindent 4 }}
    initContainers:
      {{- include "lameduck.initContainers" . | nindent 6 }}   # native mode
    containers:
      - name: app
        lifecycle: {{- include "lameduck.appLifecycle" . | nindent 10 }}
      {{- include "lameduck.containers" . | nindent 6 }}       # classic mode
    volumes:
      {{- include "lameduck.volumes" . | nindent 6 }}

and templates/lameduck.yaml holds {{ include "lameduck.resources" . }}.
*/}}

{{/* Restarts pods when the config changes. */}}
{{- define "lameduck.podAnnotations" -}}
checksum/lameduck-config: {{ include "lameduck.configYaml" . | sha256sum }}
{{- end -}}

{{/* Pod-level fields: the grace period and, for the kubernetes traffic backend, the service account. */}}
{{- define "lameduck.podSpec" -}}
{{- include "lameduck.validate" . -}}
terminationGracePeriodSeconds: {{ int .Values.lameduck.terminationGracePeriodSeconds }}
{{- if include "lameduck.kubeBackend" . }}
serviceAccountName: {{ include "lameduck.serviceAccountName" . }}
automountServiceAccountToken: true
{{- end }}
{{- end -}}

{{/* The app container's lifecycle: its preStop hook asks lameduck for the exit and returns when it is done. */}}
{{- define "lameduck.appLifecycle" -}}
preStop:
  httpGet:
    path: /prestop
    port: {{ int .Values.lameduck.adminPort }}
{{- end -}}

{{/* The sidecar as a list item, for initContainers (native mode); empty in classic mode. */}}
{{- define "lameduck.initContainers" -}}
{{- if eq .Values.lameduck.mode "native" -}}
{{- include "lameduck.container" . -}}
{{- end -}}
{{- end -}}

{{/* The sidecar as a list item, for containers (classic mode); empty in native mode. */}}
{{- define "lameduck.containers" -}}
{{- if eq .Values.lameduck.mode "classic" -}}
{{- include "lameduck.container" . -}}
{{- end -}}
{{- end -}}

{{- define "lameduck.container" -}}
{{- include "lameduck.validate" . -}}
{{- $v := .Values.lameduck -}}
- name: lameduck
  image: {{ include "lameduck.image" . }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  {{- if eq $v.mode "native" }}
  # A native sidecar: started before the app, stopped after it.
  restartPolicy: Always
  {{- end }}
  args: ["run", "--config", "/etc/lameduck/lameduck.yaml"]
  ports:
    - {name: ld-admin, containerPort: {{ int $v.adminPort }}, protocol: TCP}
    - {name: ld-metrics, containerPort: {{ int $v.metricsPort }}, protocol: TCP}
  env:
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: POD_NAMESPACE
      valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
    - name: POD_UID
      valueFrom: {fieldRef: {fieldPath: metadata.uid}}
    - name: NODE_NAME
      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
    - name: HOST_IP
      valueFrom: {fieldRef: {fieldPath: status.hostIP}}
    - name: POD_REVISION
      value: {{ default .Chart.AppVersion $v.revision | default "" | quote }}
    {{- with $v.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  # The app starts only once lameduck serves (native mode), so its preStop
  # hook always finds it.
  startupProbe:
    httpGet: {path: /healthz, port: ld-admin}
    periodSeconds: 1
    failureThreshold: 30
  livenessProbe:
    httpGet: {path: /healthz, port: ld-admin}
    periodSeconds: 10
  # 503 from the start of an exit: the pod leaves the endpoints at once.
  readinessProbe:
    httpGet: {path: /readyz, port: ld-admin}
    periodSeconds: 2
  resources:
    {{- toYaml $v.resources | nindent 4 }}
  securityContext:
    runAsNonRoot: true
    runAsUser: {{ int $v.runAsUser }}
    runAsGroup: {{ int $v.runAsGroup }}
    readOnlyRootFilesystem: true
    allowPrivilegeEscalation: false
    privileged: false
    capabilities: {drop: [ALL]}
    seccompProfile: {type: RuntimeDefault}
  volumeMounts:
    - {name: lameduck-config, mountPath: /etc/lameduck, readOnly: true}
    - {name: lameduck-spool, mountPath: /var/lib/lameduck}
{{- end -}}

{{/* The sidecar's volumes, as list items. */}}
{{- define "lameduck.volumes" -}}
- name: lameduck-config
  configMap: {name: {{ include "lameduck.fullname" . }}}
- name: lameduck-spool
  {{- with .Values.lameduck.spool.volume }}
  {{- toYaml . | nindent 2 }}
  {{- else }}
  emptyDir: {sizeLimit: {{ .Values.lameduck.spool.sizeLimit }}}
  {{- end }}
{{- end -}}

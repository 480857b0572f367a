{{- define "example-app.name" -}}
{{- printf "%s-app" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "example-app.selectorLabels" -}}
app.kubernetes.io/name: example-app
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "oomkit.labels" -}}
app.kubernetes.io/name: oomkit
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/* Labels that select the agent's pods. */}}
{{- define "oomkit.selector" -}}
app.kubernetes.io/name: oomkit
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end }}

{{- define "oomkit.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* Names and labels shared by every template. */}}

{{- define "aibrix-ts.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Name of one component's objects: <fullname>-<component>. Call with (dict "root" $ "component" "router"). */}}
{{- define "aibrix-ts.componentName" -}}
{{- printf "%s-%s" (include "aibrix-ts.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aibrix-ts.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: aibrix-ts
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{ include "aibrix-ts.selectorLabels" . }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "aibrix-ts.selectorLabels" -}}
app.kubernetes.io/name: aibrix-ts
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "aibrix-ts.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Webhook server base URL: the Service (in cluster) or the developer's machine. */}}
{{- define "aibrix-ts.webhookServiceName" -}}
{{- include "aibrix-ts.componentName" (dict "root" . "component" "webhooks") -}}
{{- end -}}

{{- define "aibrix-ts.extenderUrl" -}}
{{- if .Values.development.enabled -}}
{{- required "development.extenderUrl is required when development.enabled (e.g. http://127.0.0.1:8090/scheduler)" .Values.development.extenderUrl -}}
{{- else -}}
{{- printf "http://%s.%s.svc:%d/scheduler" (include "aibrix-ts.componentName" (dict "root" . "component" "extender")) .Release.Namespace (int .Values.extender.port) -}}
{{- end -}}
{{- end -}}

{{/* Pod-level settings every Deployment shares. Call with (dict "root" $ "component" "x" "serviceAccount" true). */}}
{{- define "aibrix-ts.podCommon" -}}
serviceAccountName: {{ include "aibrix-ts.componentName" . }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .root.Values.affinity }}
affinity:
  {{- toYaml .root.Values.affinity | nindent 2 }}
{{- else }}
affinity:
  # Spread replicas so one node failure never takes a whole component down.
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "aibrix-ts.selectorLabels" . | nindent 14 }}
{{- end }}
{{- end -}}

{{/* A PodDisruptionBudget for one component. Call with (dict "root" $ "component" "x" "pdb" .Values.x.pdb). */}}
{{- define "aibrix-ts.pdb" -}}
{{- if .pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "aibrix-ts.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "aibrix-ts.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "aibrix-ts.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/* A ServiceMonitor scraping the component's Service port named "metrics". */}}
{{- define "aibrix-ts.serviceMonitor" -}}
{{- $v := .root.Values.serviceMonitor -}}
{{- if and $v.enabled (or $v.force (.root.Capabilities.APIVersions.Has "monitoring.coreos.com/v1")) }}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "aibrix-ts.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "aibrix-ts.labels" . | nindent 4 }}
    {{- with $v.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "aibrix-ts.selectorLabels" . | nindent 6 }}
  endpoints:
    - port: metrics
      interval: {{ $v.interval }}
      {{- if .scheme }}
      scheme: {{ .scheme }}
      tlsConfig:
        insecureSkipVerify: true
      {{- end }}
{{- end }}
{{- end -}}

{{/* The chart's name. */}}
{{- define "nightshift.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: the prefix of every object the chart makes. */}}
{{- define "nightshift.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "nightshift.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "nightshift.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: nightshift
{{- end }}

{{/* The labels that select the agent's pods. */}}
{{- define "nightshift.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nightshift.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "nightshift.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "nightshift.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Whether the replicas elect a leader: on with the PostgreSQL store (the agent refuses it on SQLite). */}}
{{- define "nightshift.leaderElection" -}}
{{- if and .Values.leaderElection.enabled .Values.store.existingSecret }}true{{ end }}
{{- end }}

{{- define "nightshift.leaseName" -}}
{{- default (include "nightshift.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{- define "nightshift.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The ConfigMap holding the policy: the chart's own or an existing one. */}}
{{- define "nightshift.policyConfigMap" -}}
{{- default (printf "%s-policy" (include "nightshift.fullname" .)) .Values.policy.existingConfigMap }}
{{- end }}

{{/* The variable a token is put in: its own env, else NIGHTSHIFT_TOKEN_<NAME>. */}}
{{- define "nightshift.tokenEnv" -}}
{{- default (printf "NIGHTSHIFT_TOKEN_%s" (regexReplaceAll "[^A-Z0-9]" (upper .name) "_")) .env }}
{{- end }}

{{/* Whether the API has any credential. */}}
{{- define "nightshift.hasCredentials" -}}
{{- if or .Values.auth.tokens .Values.auth.digests .Values.auth.alertmanager.enabled }}true{{ end }}
{{- end }}

{{/* Combinations the schema cannot express, refused with the keys to change. */}}
{{- define "nightshift.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.store.existingSecret) }}
{{- fail (printf "replicaCount: %d replicas need the shared PostgreSQL store: set store.existingSecret (a Secret whose key %q holds postgres://...), or replicaCount=1 for SQLite on the pod's volume" (int .Values.replicaCount) .Values.store.key) }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail (printf "replicaCount: %d replicas need leaderElection.enabled: without it every replica would run the engine" (int .Values.replicaCount)) }}
{{- end }}
{{- if and (not (include "nightshift.hasCredentials" .)) (not .Values.auth.open) }}
{{- fail "auth: the API listens beyond loopback and no credential is configured: set auth.tokens, auth.digests or auth.alertmanager, or auth.open=true to serve it without authentication" }}
{{- end }}
{{- if and .Values.auth.alertmanager.enabled (or (not .Values.auth.alertmanager.existingSecret) (not .Values.auth.alertmanager.key)) }}
{{- fail "auth.alertmanager: existingSecret and key name the Secret holding the Basic password" }}
{{- end }}
{{- $envs := dict }}
{{- range .Values.auth.tokens }}
{{- $env := include "nightshift.tokenEnv" . }}
{{- if hasKey $envs $env }}
{{- fail (printf "auth.tokens: %q and %q would both be read from the variable %s; give one of them its own env" (get $envs $env) .name $env) }}
{{- end }}
{{- $_ := set $envs $env .name }}
{{- end }}
{{- end }}

{{/*
Names and labels.
*/}}
{{- define "ticketing.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Release-scoped prefix of every object name; with the release called "ticketing"
the services are ticketing-auth, ticketing-tickets, ...
*/}}
{{- define "ticketing.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ticketing.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of one component. Call with (dict "root" $ "component" "auth"). */}}
{{- define "ticketing.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ticketing.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* All labels of one component. Call with (dict "root" $ "component" "auth"). */}}
{{- define "ticketing.labels" -}}
helm.sh/chart: {{ include "ticketing.chart" .root }}
{{ include "ticketing.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: ticketing
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{/*
The services and what each one needs: one table, read by every template that
loops over the services. ingressPath is the public prefix of API.md (the
storefront, web, takes every other path); extraIngressPaths are more of the
service's prefixes (tickets serves /api/events). A frontend owns no data and reaches
only the API, through the ingress controller.
*/}}
{{- define "ticketing.serviceTable" -}}
auth:
  mongodb: true
  redis: true
  jwtPrivateKey: true
  ingressPath: /api/users
tickets:
  mongodb: true
  redis: true
  ingressPath: /api/tickets
  extraIngressPaths: [/api/events]
orders:
  mongodb: true
  redis: true
  queuePublicKey: true
  ingressPath: /api/orders
expiration:
  redis: true
payments:
  mongodb: true
  redis: true
  stripe: true
  ingressPath: /api/payments
web:
  frontend: true
  ingressPath: /
queue:
  redis: true
  queuePrivateKey: true
  ingressPath: /api/queue
{{- end }}

{{- define "ticketing.serviceNames" -}}
auth tickets orders expiration payments web queue
{{- end }}

{{/* Pod selector matching the pods of the five services that use the bundled components. */}}
{{- define "ticketing.servicePodSelector" -}}
matchLabels:
  app.kubernetes.io/name: {{ include "ticketing.name" . }}
  app.kubernetes.io/instance: {{ .Release.Name }}
matchExpressions:
  - key: app.kubernetes.io/component
    operator: In
    values: [auth, tickets, orders, expiration, payments, queue]
{{- end }}

{{/*
Image reference: [registry/]repository:tag[@digest]. The tag falls back to
global.image.tag, then to the chart's appVersion.
Call with (dict "root" $ "image" $svc.image).
*/}}
{{- define "ticketing.image" -}}
{{- $registry := .root.Values.global.image.registry | trimSuffix "/" }}
{{- $repository := required "image.repository is required" .image.repository }}
{{- $ref := ternary $repository (printf "%s/%s" $registry $repository) (empty $registry) }}
{{- $tag := .image.tag | default .root.Values.global.image.tag | default .root.Chart.AppVersion }}
{{- $ref = printf "%s:%s" $ref $tag }}
{{- with .image.digest }}
{{- $ref = printf "%s@%s" $ref . }}
{{- end }}
{{- $ref }}
{{- end }}

{{/* Image of a bundled component: repository:tag, no registry prefix. */}}
{{- define "ticketing.bundledImage" -}}
{{- printf "%s:%s" .repository .tag }}
{{- end }}

{{/*
Connection settings. Each one comes from the bundled component when it is
enabled, else from the user's existing Secret, else from a plain value (put in
the chart's connections Secret when it may carry credentials).
*/}}
{{- define "ticketing.connectionsSecretName" -}}
{{ include "ticketing.fullname" . }}-connections
{{- end }}

{{- define "ticketing.mongodbURI" -}}
{{- if .Values.mongodb.bundled.enabled }}
{{- $host := printf "%s-mongodb-0.%s-mongodb.%s.svc:27017" (include "ticketing.fullname" .) (include "ticketing.fullname" .) .Release.Namespace }}
{{- printf "mongodb://%s/?replicaSet=%s&w=majority&retryWrites=true" $host .Values.mongodb.bundled.replicaSetName }}
{{- else }}
{{- required "mongodb.uri or mongodb.existingSecret is required when mongodb.bundled.enabled is false" .Values.mongodb.uri }}
{{- end }}
{{- end }}

{{- define "ticketing.natsURL" -}}
{{- if .Values.nats.bundled.enabled }}
{{- printf "nats://%s-nats.%s.svc:4222" (include "ticketing.fullname" .) .Release.Namespace }}
{{- else if .Values.nats.urls }}
{{- join "," .Values.nats.urls }}
{{- else }}
{{- required "nats.url or nats.existingSecret is required when nats.bundled.enabled is false" .Values.nats.url }}
{{- end }}
{{- end }}

{{- define "ticketing.redisAddr" -}}
{{- if .Values.redis.bundled.enabled }}
{{- printf "%s-redis.%s.svc:6379" (include "ticketing.fullname" .) .Release.Namespace }}
{{- else }}
{{- required "redis.addr (or redis.sentinel.addrs) is required when redis.bundled.enabled is false" .Values.redis.addr }}
{{- end }}
{{- end }}

{{/*
The container environment of one service.
Call with (dict "root" $ "name" "auth" "svc" $svc "needs" $needs).
*/}}
{{- define "ticketing.env" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $secretName := include "ticketing.connectionsSecretName" $root -}}
- name: HTTP_ADDR
  value: ":3000"
- name: METRICS_ADDR
  value: ":9090"
- name: LOG_FORMAT
  value: {{ $v.global.logFormat | quote }}
- name: LOG_LEVEL
  value: {{ $v.global.logLevel | quote }}
- name: SHUTDOWN_TIMEOUT
  value: "{{ $v.global.shutdownTimeoutSeconds }}s"
{{- if not .needs.frontend }}
- name: NATS_URL
{{- if and (not $v.nats.bundled.enabled) $v.nats.existingSecret }}
  valueFrom:
    secretKeyRef:
      name: {{ $v.nats.existingSecret }}
      key: {{ $v.nats.existingSecretKey }}
{{- else }}
  value: {{ include "ticketing.natsURL" $root | quote }}
{{- end }}
- name: STREAM_REPLICAS
  value: {{ $v.nats.streamReplicas | quote }}
{{- if .needs.mongodb }}
- name: MONGODB_URI
  valueFrom:
    secretKeyRef:
{{- if and (not $v.mongodb.bundled.enabled) $v.mongodb.existingSecret }}
      name: {{ $v.mongodb.existingSecret }}
      key: {{ $v.mongodb.existingSecretKey }}
{{- else }}
      name: {{ $secretName }}
      key: mongodb-uri
{{- end }}
- name: MONGODB_DATABASE
  value: {{ .svc.database | default .name | quote }}
{{- end }}
{{- with $v.rateLimits }}
- name: RATE_LIMIT_USER
  value: {{ .user | quote }}
- name: RATE_LIMIT_CLIENT
  value: {{ .client | quote }}
- name: RATE_LIMIT_WINDOW
  value: {{ .window | quote }}
- name: TRUSTED_PROXIES
  value: {{ .trustedProxies | quote }}
{{- end }}
{{- if .needs.redis }}
{{- if and (not $v.redis.bundled.enabled) $v.redis.sentinel.addrs }}
- name: REDIS_SENTINEL_ADDRS
  value: {{ join "," $v.redis.sentinel.addrs | quote }}
- name: REDIS_MASTER_NAME
  value: {{ $v.redis.sentinel.masterName | quote }}
{{- with $v.redis.sentinel.existingSecret }}
- name: REDIS_SENTINEL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $v.redis.sentinel.existingSecretKey }}
{{- end }}
{{- else }}
- name: REDIS_ADDR
  value: {{ include "ticketing.redisAddr" $root | quote }}
{{- end }}
- name: REDIS_TLS
  value: {{ and (not $v.redis.bundled.enabled) $v.redis.tls | quote }}
{{- if not $v.redis.bundled.enabled }}
- name: REDIS_DB
  value: {{ $v.redis.db | quote }}
{{- with $v.redis.username }}
- name: REDIS_USERNAME
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if and (not $v.redis.bundled.enabled) $v.redis.existingSecret }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $v.redis.existingSecret }}
      key: {{ $v.redis.existingSecretKey }}
{{- end }}
{{- end }}
- name: JWT_PUBLIC_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $v.secrets.jwt.existingSecret }}
      key: {{ $v.secrets.jwt.publicKeyKey }}
{{- end }}
{{- if .needs.jwtPrivateKey }}
- name: JWT_PRIVATE_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $v.secrets.jwt.existingSecret }}
      key: {{ $v.secrets.jwt.privateKeyKey }}
{{- end }}
{{- if .needs.queuePublicKey }}
- name: QUEUE_PUBLIC_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $v.secrets.queue.existingSecret }}
      key: {{ $v.secrets.queue.publicKeyKey }}
{{- end }}
{{- if .needs.queuePrivateKey }}
- name: QUEUE_PRIVATE_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $v.secrets.queue.existingSecret }}
      key: {{ $v.secrets.queue.privateKeyKey }}
{{- end }}
{{- if .needs.stripe }}
{{- /* The webhook secret is required by both providers; the API key is read by stripe only. */}}
- name: STRIPE_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $v.secrets.stripe.existingSecret }}
      key: {{ $v.secrets.stripe.secretKeyKey }}
- name: STRIPE_WEBHOOK_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $v.secrets.stripe.existingSecret }}
      key: {{ $v.secrets.stripe.webhookSecretKey }}
{{- /* Razorpay's keys, read with PAYMENT_PROVIDER=razorpay only: optional, so that payments
starts without the Secret under another provider. */}}
{{- with $v.secrets.razorpay }}
- name: RAZORPAY_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .keyIdKey }}
      optional: true
- name: RAZORPAY_KEY_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .keySecretKey }}
      optional: true
- name: RAZORPAY_WEBHOOK_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .webhookSecretKey }}
      optional: true
{{- end }}
{{- end }}
{{- range $key, $value := .svc.env }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{- with .svc.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* One egress rule of a service's NetworkPolicy: to a bundled component, to the
user's peers, or (no peers given) to any address on the port. */}}
{{- define "ticketing.egressRule" -}}
- ports:
    - port: {{ .port }}
      protocol: TCP
  {{- if .bundled }}
  to:
    - podSelector:
        matchLabels:
          {{- include "ticketing.selectorLabels" (dict "root" .root "component" .component) | nindent 10 }}
  {{- else if .peers }}
  to:
    {{- toYaml .peers | nindent 4 }}
  {{- end }}
{{- end }}

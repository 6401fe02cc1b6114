#!/bin/sh
# Creates the Secrets the ticketing services read, on a development or test
# cluster: a fresh Ed25519 JWT key pair and the Stripe settings. Keys are
# generated here and go straight into the cluster: never into git or a file
# that outlives this script.
#
#   scripts/dev-secrets.sh            create what is missing (skaffold runs this before deploying)
#   scripts/dev-secrets.sh --force    replace both Secrets (new JWT keys sign every user out)
#
# Environment:
#   NAMESPACE / KUBE_CONTEXT   target (default: skaffold's, else kubectl's current)
#   STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET
#                              Stripe test-mode keys. With them the Secret's
#                              provider key is "stripe", without them "offline"
#                              (Stripe's test cards, no network). Change with
#                              --force. Only the skaffold dev manifests
#                              (infra/k8s) read provider: the Helm chart takes
#                              PAYMENT_PROVIDER from payments.env.PAYMENT_PROVIDER.
#   RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET, RAZORPAY_WEBHOOK_SECRET
#                              Razorpay test-mode keys (without Stripe's): the
#                              provider key is then "razorpay". The Secret
#                              ticketing-razorpay is created either way (empty
#                              values without them; payments reads it only
#                              with provider razorpay).
#
# Needs kubectl and OpenSSL 1.1.1 or later (Ed25519; on macOS the system
# LibreSSL may lack it: brew install openssl).
#
# Secrets created (the chart reads the same names by default):
#   ticketing-jwt     private.pem, public.pem
#   ticketing-queue   private.pem, public.pem (the waiting room signs passes, orders verifies)
#   ticketing-stripe  provider, secret-key, publishable-key, webhook-secret
#   ticketing-razorpay  key-id, key-secret, webhook-secret
set -eu

force=false
case "${1:-}" in
  --force) force=true ;;
  "") ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

context=${KUBE_CONTEXT:-${SKAFFOLD_KUBE_CONTEXT:-}}
# skaffold passes the namespaces it deploys to, comma-separated.
namespace=${NAMESPACE:-$(printf '%s' "${SKAFFOLD_NAMESPACES:-}" | cut -d, -f1)}

kc() {
  if [ -n "$context" ] && [ -n "$namespace" ]; then
    kubectl --context "$context" --namespace "$namespace" "$@"
  elif [ -n "$context" ]; then
    kubectl --context "$context" "$@"
  elif [ -n "$namespace" ]; then
    kubectl --namespace "$namespace" "$@"
  else
    kubectl "$@"
  fi
}

for tool in kubectl openssl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "dev-secrets: $tool is not on the PATH" >&2; exit 1; }
done

# wanted NAME: true when the Secret must be (re)created.
wanted() {
  if kc get secret "$1" >/dev/null 2>&1; then
    if [ "$force" = true ]; then return 0; fi
    echo "dev-secrets: secret $1 exists, kept (--force replaces it)"
    return 1
  fi
  return 0
}

# apply_secret NAME ARGS...: create or replace a generic Secret.
apply_secret() {
  name=$1; shift
  kc create secret generic "$name" "$@" --dry-run=client -o yaml | kc apply -f - >/dev/null
  echo "dev-secrets: secret $name written"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
umask 077

if wanted ticketing-jwt; then
  if ! openssl genpkey -algorithm ed25519 -out "$tmp/private.pem" 2>/dev/null; then
    echo "dev-secrets: this openssl cannot generate Ed25519 keys; install OpenSSL 1.1.1 or later" >&2
    exit 1
  fi
  openssl pkey -in "$tmp/private.pem" -pubout -out "$tmp/public.pem"
  apply_secret ticketing-jwt \
    --from-file=private.pem="$tmp/private.pem" \
    --from-file=public.pem="$tmp/public.pem"
fi

if wanted ticketing-queue; then
  openssl genpkey -algorithm ed25519 -out "$tmp/queue-private.pem" 2>/dev/null ||
    { echo "dev-secrets: this openssl cannot generate Ed25519 keys; install OpenSSL 1.1.1 or later" >&2; exit 1; }
  openssl pkey -in "$tmp/queue-private.pem" -pubout -out "$tmp/queue-public.pem"
  apply_secret ticketing-queue \
    --from-file=private.pem="$tmp/queue-private.pem" \
    --from-file=public.pem="$tmp/queue-public.pem"
fi

if wanted ticketing-stripe; then
  if [ -n "${STRIPE_SECRET_KEY:-}" ]; then
    provider=stripe
    webhook=${STRIPE_WEBHOOK_SECRET:?STRIPE_WEBHOOK_SECRET is required with STRIPE_SECRET_KEY (stripe listen prints one)}
  elif [ -n "${RAZORPAY_KEY_ID:-}" ]; then
    provider=razorpay
    webhook=${STRIPE_WEBHOOK_SECRET:-whsec_dev_$(openssl rand -hex 24)}
  else
    provider=offline
    # The offline provider still verifies webhook signatures: any secret will do.
    webhook=whsec_dev_$(openssl rand -hex 24)
  fi
  apply_secret ticketing-stripe \
    --from-literal=provider="$provider" \
    --from-literal=secret-key="${STRIPE_SECRET_KEY:-}" \
    --from-literal=publishable-key="${STRIPE_PUBLISHABLE_KEY:-}" \
    --from-literal=webhook-secret="$webhook"
  echo "dev-secrets: payment provider $provider for the skaffold dev manifests (the Helm chart uses payments.env.PAYMENT_PROVIDER)"
fi

if wanted ticketing-razorpay; then
  if [ -n "${RAZORPAY_KEY_ID:-}" ]; then
    : "${RAZORPAY_KEY_SECRET:?RAZORPAY_KEY_SECRET is required with RAZORPAY_KEY_ID}"
    : "${RAZORPAY_WEBHOOK_SECRET:?RAZORPAY_WEBHOOK_SECRET is required with RAZORPAY_KEY_ID (the webhook's secret in Razorpay's dashboard)}"
  fi
  apply_secret ticketing-razorpay \
    --from-literal=key-id="${RAZORPAY_KEY_ID:-}" \
    --from-literal=key-secret="${RAZORPAY_KEY_SECRET:-}" \
    --from-literal=webhook-secret="${RAZORPAY_WEBHOOK_SECRET:-}"
fi

package service

import (
	"context"

	"ticketing/common/authn"
	"ticketing/common/bus"
	"ticketing/common/events"
)

// Verifier is the verifier of the service's session tokens: Base's public key, refusing the
// sessions revoked through session.revoked, which it follows on conn (every event, in this
// replica) until the service stops. It returns once the revocations published so far are
// known, so a replica never serves a token revoked before it started.
func (a *App) Verifier(ctx context.Context, conn *bus.Conn) (*authn.Verifier, error) {
	revoked := authn.NewRevocations()
	stop, err := bus.Follow(ctx, conn, func(e events.SessionRevoked) { Revoke(revoked, e) }, a.Log)
	if err != nil {
		return nil, err
	}
	a.OnStop(func(context.Context) { stop() })
	return authn.NewVerifier(a.Base.JWTPublicKey).WithRevocations(revoked), nil
}

// Revoke records a revocation event in r.
func Revoke(r *authn.Revocations, e events.SessionRevoked) {
	if e.TokenID != "" {
		r.RevokeToken(e.TokenID, e.ExpiresAt)
		return
	}
	if e.IssuedBefore != nil {
		r.RevokeUser(e.UserID, *e.IssuedBefore, e.ExpiresAt)
	}
}

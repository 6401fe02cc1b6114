// Package api is the auth service's HTTP interface: /api/users/signup, signin, signout,
// password, currentuser and the JWKS document.
package api

import (
	"crypto/ed25519"
	"errors"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"ticketing/common/authn"
	"ticketing/common/errs"
	"ticketing/common/openapi"
	"ticketing/common/web"
	"ticketing/services/auth/internal/app"
	"ticketing/services/auth/internal/password"
	"ticketing/services/auth/internal/user"
)

// Prefix is where the routes are mounted.
const Prefix = "/api/users"

var outcomes = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "ticketing_auth_attempts_total",
	Help: "Sign-ups and sign-ins by outcome (ok, invalid, conflict, unauthenticated, rate_limited, shed, error); shed: refused because the hashing slots were all taken.",
}, []string{"action", "outcome"})

// Handler serves the routes.
type Handler struct {
	Accounts     *app.Service
	Signer       *authn.Signer
	PublicKey    ed25519.PublicKey
	CookieSecure bool        // set the cookie's Secure attribute
	Proxies      web.Proxies // hops trusted to report the client address (X-Forwarded-For)
}

// Mount adds the routes, and the OpenAPI document that describes them, to r at their full
// public paths. r must verify sessions (web.NewRouter with a verifier) for currentuser to see
// them.
func (h *Handler) Mount(r chi.Router) {
	jwks := authn.JWKS(h.PublicKey)
	r.Route(Prefix, func(r chi.Router) {
		r.Method(http.MethodGet, openapi.Path, openapi.Handler(OpenAPI))
		r.Post("/signup", h.signUp)
		r.Post("/signin", h.signIn)
		r.Post("/signout", h.signOut)
		r.With(web.RequireAuth).Put("/password", h.changePassword)
		r.Get("/currentuser", h.currentUser)
		r.Get("/.well-known/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Cache-Control", "public, max-age=300")
			web.Respond(w, http.StatusOK, jwks)
		})
	})
}

// credentialsRequest is the body of signup and signin.
type credentialsRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// sessionResponse answers signup and signin.
type sessionResponse struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Token string `json:"token"`
}

// currentUserResponse answers currentuser; CurrentUser is null when nobody is signed in.
type currentUserResponse struct {
	CurrentUser *currentUser `json:"currentUser"`
}

// currentUser is the session's payload, with iat and exp as JWT NumericDates.
type currentUser struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	IssuedAt  int64  `json:"iat"`
	ExpiresAt int64  `json:"exp"`
}

func (h *Handler) signUp(w http.ResponseWriter, r *http.Request) {
	var body credentialsRequest
	if err := web.Decode(w, r, &body); err != nil {
		h.fail(w, r, "signup", err)
		return
	}
	u, err := h.Accounts.SignUp(r.Context(), body.Email, body.Password, web.ClientAddr(r, h.Proxies))
	if err != nil {
		h.fail(w, r, "signup", err)
		return
	}
	h.startSession(w, r, "signup", http.StatusCreated, u)
}

func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	var body credentialsRequest
	if err := web.Decode(w, r, &body); err != nil {
		h.fail(w, r, "signin", err)
		return
	}
	u, err := h.Accounts.SignIn(r.Context(), body.Email, body.Password, web.ClientAddr(r, h.Proxies))
	if err != nil {
		h.fail(w, r, "signin", err)
		return
	}
	h.startSession(w, r, "signin", http.StatusOK, u)
}

// startSession issues a token for u, sets it as the session cookie and answers it.
func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, action string, status int, u user.User) {
	tok, claims, err := h.Signer.Issue(u.ID, u.Email)
	if err != nil {
		h.fail(w, r, action, errs.Wrap(errs.Internal, err, "issue token"))
		return
	}
	outcomes.WithLabelValues(action, "ok").Inc()
	authn.SetCookie(w, tok, claims.Expires, h.CookieSecure)
	w.Header().Set("Cache-Control", "no-store")
	web.Respond(w, status, sessionResponse{ID: u.ID, Email: u.Email, Token: tok})
}

// signOut clears the cookie and revokes the session's token, if the request has one: every
// service refuses it from then on.
func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	authn.ClearCookie(w, h.CookieSecure)
	w.Header().Set("Cache-Control", "no-store")
	if u, ok := authn.UserFrom(r.Context()); ok {
		if err := h.Accounts.SignOut(r.Context(), u.ID, u.TokenID, u.Expires); err != nil {
			h.fail(w, r, "signout", err)
			return
		}
	}
	web.Respond(w, http.StatusOK, struct{}{})
}

// passwordRequest is the body of PUT /password.
type passwordRequest struct {
	CurrentPassword string `json:"currentPassword"`
	NewPassword     string `json:"newPassword"`
}

// changePassword replaces the signed-in user's password, revokes every token of theirs
// issued before, and starts a new session.
func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request) {
	var body passwordRequest
	if err := web.Decode(w, r, &body); err != nil {
		h.fail(w, r, "password", err)
		return
	}
	me := web.MustUser(r)
	// Tokens carry whole seconds: the cut is the next second, and the new token is issued at
	// it, so that every token issued before the change is refused and the new one is not.
	cut := time.Now().Truncate(time.Second).Add(time.Second)
	u, err := h.Accounts.ChangePassword(r.Context(), app.PasswordChange{
		UserID: me.ID, Current: body.CurrentPassword, New: body.NewPassword, Client: web.ClientAddr(r, h.Proxies),
		IssuedBefore: cut, KeepUntil: cut.Add(h.Signer.TTL()),
	})
	if err != nil {
		h.fail(w, r, "password", err)
		return
	}
	tok, claims, err := h.Signer.IssueAfter(u.ID, u.Email, cut)
	if err != nil {
		h.fail(w, r, "password", errs.Wrap(errs.Internal, err, "issue token"))
		return
	}
	outcomes.WithLabelValues("password", "ok").Inc()
	authn.SetCookie(w, tok, claims.Expires, h.CookieSecure)
	w.Header().Set("Cache-Control", "no-store")
	web.Respond(w, http.StatusOK, sessionResponse{ID: u.ID, Email: u.Email, Token: tok})
}

func (h *Handler) currentUser(w http.ResponseWriter, r *http.Request) {
	var out currentUserResponse
	if u, ok := authn.UserFrom(r.Context()); ok {
		out.CurrentUser = &currentUser{ID: u.ID, Email: u.Email, IssuedAt: u.IssuedAt.Unix(), ExpiresAt: u.Expires.Unix()}
	}
	w.Header().Set("Cache-Control", "no-store")
	web.Respond(w, http.StatusOK, out)
}

// fail answers err, mapped by toHTTP, and counts the outcome.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, action string, err error) {
	var signUpLimited *user.SignUpLimitedError
	shed := errors.Is(err, password.ErrBusy) || (errors.As(err, &signUpLimited) && signUpLimited.Busy)
	err = toHTTP(err)
	outcome := "error"
	switch kind := errs.KindOf(err); {
	case shed:
		outcome = "shed"
	case kind == errs.Invalid || kind == errs.TooLarge || kind == errs.UnsupportedMedia:
		outcome = "invalid"
	case kind == errs.Conflict:
		outcome = "conflict"
	case kind == errs.Unauthenticated:
		outcome = "unauthenticated"
	case kind == errs.RateLimited:
		outcome = "rate_limited"
	}
	outcomes.WithLabelValues(action, outcome).Inc()
	web.Error(w, r, err)
}

// toHTTP maps the domain's errors to the API's, in one place; errors of the API's own (the
// body's decoding) pass as they are, anything else is a fault.
func toHTTP(err error) error {
	var v errs.Validation
	v.Check(!errors.Is(err, user.ErrEmailInvalid), "email", "Email must be valid")
	v.Check(!errors.Is(err, user.ErrPasswordLength), "password", "Password must be between 8 and 128 characters")
	v.Check(!errors.Is(err, user.ErrPasswordEmpty), "password", "You must supply a password")
	v.Check(!errors.Is(err, user.ErrCurrentPasswordEmpty), "currentPassword", "You must supply your current password")
	v.Check(!errors.Is(err, user.ErrWrongPassword), "currentPassword", "Current password is wrong")
	v.Check(!errors.Is(err, user.ErrNewPasswordLength), "newPassword", "Password must be between 8 and 128 characters")
	var limited *user.RateLimitedError
	var signUpLimited *user.SignUpLimitedError
	var apiErr *errs.Error
	switch {
	case v.Err() != nil:
		return v.Err()
	case errors.As(err, &limited):
		return &errs.Error{Kind: errs.RateLimited, Message: "Too many failed sign-in attempts, try again later", RetryAfter: limited.Wait}
	case errors.As(err, &signUpLimited) && signUpLimited.Busy:
		return &errs.Error{Kind: errs.RateLimited, Message: "Too many sign-ups right now, try again shortly", RetryAfter: signUpLimited.Wait, Err: err}
	case errors.As(err, &signUpLimited):
		return &errs.Error{Kind: errs.RateLimited, Message: "Too many sign-ups, try again later", RetryAfter: signUpLimited.Wait}
	case errors.Is(err, user.ErrEmailTaken):
		return errs.New(errs.Conflict, "Email in use")
	case errors.Is(err, user.ErrInvalidCredentials):
		return errs.New(errs.Unauthenticated, "Invalid credentials")
	case errors.Is(err, user.ErrNotFound): // a signed-in user whose account is gone
		return errs.New(errs.Unauthenticated, "Not authorized")
	case errors.Is(err, password.ErrBusy):
		return &errs.Error{Kind: errs.Unavailable, Message: "Server busy, try again", RetryAfter: time.Second, Err: err}
	case errors.As(err, &apiErr):
		return err
	default:
		return errs.Wrap(errs.Internal, err, "")
	}
}

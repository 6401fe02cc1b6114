package auth

import (
	"log/slog"
	"testing"

	"github.com/go-chi/chi/v5"

	"ticketing/common/authn"
	"ticketing/common/config"
	"ticketing/common/openapi/openapitest"
	"ticketing/common/testkit"
	"ticketing/services/auth/internal/api"
)

// statuses is the contract of API.md and README.md: every status each route answers.
var statuses = openapitest.Statuses{
	"POST /api/users/signup":               {201, 400, 409, 413, 415, 429, 500},
	"POST /api/users/signin":               {200, 400, 401, 413, 415, 429, 500, 503},
	"POST /api/users/signout":              {200, 429, 500},
	"PUT /api/users/password":              {200, 400, 401, 413, 415, 429, 500, 503},
	"GET /api/users/currentuser":           {200, 500},
	"GET /api/users/.well-known/jwks.json": {200, 500},
	"GET /api/users/openapi.json":          {200, 304, 500},
}

// The handler Run serves (newServer's router) registers exactly the routes of openapi.yaml,
// each with exactly its status codes; every example there validates against its schema; and
// the document is served as JSON under the API's prefix.
func TestOpenAPI(t *testing.T) {
	// newServer connects no NATS; the URL only satisfies the shared configuration.
	env := testkit.ServiceEnv(t, "nats://127.0.0.1:4222")
	cfg, err := LoadConfig(config.FromMap(env))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := newServer(t.Context(), cfg, slog.New(slog.DiscardHandler), testkit.MongoClient(t).Database(env["MONGODB_DATABASE"]), authn.NewVerifier(cfg.JWTPublicKey), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.close)
	routes, ok := srv.handler.(chi.Routes)
	if !ok {
		t.Fatalf("newServer's handler is a %T, not a chi router", srv.handler)
	}
	openapitest.Check(t, api.OpenAPI, routes, statuses)
	openapitest.Served(t, srv.handler, api.Prefix+"/openapi.json", api.OpenAPI)
}

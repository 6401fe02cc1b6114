package service

import (
	"ticketing/common/authn"
	"ticketing/common/config"
	"ticketing/common/telemetry"
)

// LogConfig logs the configuration once, at start, in one line: the shared settings of
// Base, then attrs, the service's own (key-value pairs, as for slog). Credentials are never
// logged: the shared URLs lose their user, password and secret parameters
// (config.RedactURL), and a service logs its own secrets through config.Mask and its URLs
// through config.RedactURL.
func (a *App) LogConfig(attrs ...any) {
	b := a.Base
	all := []any{
		"http", b.HTTPAddr, "metrics", b.MetricsAddr, "pprof", b.Pprof, "log_level", b.LogLevel,
		"shutdown_timeout", b.ShutdownTimeout,
		"nats", config.RedactURLs(b.NATSURL), "bus_prefix", b.Topology.Prefix, "stream_replicas", b.Topology.Replicas,
	}
	if b.MongoURI != "" {
		all = append(all, "mongodb", config.RedactURL(b.MongoURI), "mongodb_database", b.MongoDatabase)
	}
	if b.NATSURL != "" { // the services of LoadBase
		all = append(all, b.Limits.LogAttrs()...)
	}
	if b.JWTPublicKey != nil {
		all = append(all, "jwt_kid", authn.KeyID(b.JWTPublicKey))
	}
	traces := "off"
	if b.OTLPEndpoint != "" {
		traces = config.RedactURL(telemetry.TracesURL(b.OTLPEndpoint))
	}
	all = append(all, "traces", traces)
	a.Log.Info("configuration", append(all, attrs...)...)
}

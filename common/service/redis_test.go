package service

import (
	"strings"
	"testing"

	"ticketing/common/config"
)

func TestLoadRedis(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		required bool
		err      string // "" for none
		check    func(t *testing.T, r Redis)
	}{
		{name: "unset, optional", env: map[string]string{}, check: func(t *testing.T, r Redis) {
			if r.Configured() {
				t.Errorf("configured: %+v", r)
			}
		}},
		{name: "unset, required", env: map[string]string{}, required: true, err: "REDIS_ADDR: is required"},
		{name: "one server", required: true, env: map[string]string{"REDIS_ADDR": "redis.example.com:6380",
			"REDIS_USERNAME": "u", "REDIS_PASSWORD": "p", "REDIS_DB": "3", "REDIS_TLS": "true"},
			check: func(t *testing.T, r Redis) {
				o := r.Options()
				if r.Sentinel() || o.Addr != "redis.example.com:6380" || o.Username != "u" || o.Password != "p" || o.DB != 3 ||
					o.TLSConfig == nil || o.TLSConfig.ServerName != "redis.example.com" {
					t.Errorf("options %+v", o)
				}
			}},
		{name: "sentinel", required: true, env: map[string]string{
			"REDIS_SENTINEL_ADDRS": " s1:26379, s2:26379,s3:26379", "REDIS_MASTER_NAME": "tix",
			"REDIS_SENTINEL_PASSWORD": "sp", "REDIS_PASSWORD": "p", "REDIS_DB": "2", "REDIS_TLS": "true"},
			check: func(t *testing.T, r Redis) {
				o := r.FailoverOptions()
				if !r.Sentinel() || !r.Configured() || o.MasterName != "tix" || len(o.SentinelAddrs) != 3 || o.SentinelAddrs[0] != "s1:26379" ||
					o.SentinelPassword != "sp" || o.Password != "p" || o.DB != 2 || o.TLSConfig == nil {
					t.Errorf("failover options %+v", o)
				}
				for _, a := range r.LogAttrs() {
					if a == "sp" || a == "p" {
						t.Errorf("log attributes show a password: %v", r.LogAttrs())
					}
				}
				c := r.Client()
				defer c.Close()
			}},
		{name: "bad sentinel address", env: map[string]string{"REDIS_SENTINEL_ADDRS": "s1"}, err: "REDIS_SENTINEL_ADDRS"},
		{name: "bad address", env: map[string]string{"REDIS_ADDR": "redis"}, err: "REDIS_ADDR"},
		{name: "bad db", env: map[string]string{"REDIS_ADDR": "r:1", "REDIS_DB": "-1"}, err: "REDIS_DB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := config.FromMap(tc.env)
			r := LoadRedis(env, tc.required)
			err := env.Err()
			switch {
			case tc.err == "" && err != nil:
				t.Fatal(err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one naming %s", err, tc.err)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

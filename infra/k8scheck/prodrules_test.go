package k8scheck

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
)

// schemaNode is the part of a JSON schema the production rules use.
type schemaNode struct {
	Properties map[string]*schemaNode `json:"properties"`
	Required   []string               `json:"required"`
	Items      *schemaNode            `json:"items"`
	Not        *schemaNode            `json:"not"`
	Enum       []any                  `json:"enum"`
	Const      any                    `json:"const"`
	AllOf      []struct {
		If   *schemaNode `json:"if"`
		Then *schemaNode `json:"then"`
	} `json:"allOf"`
}

// governed is every variable a production rule of the schema pins or forbids in a
// service's env: the names its then-clause constrains under <service>.env.
func governed(env *schemaNode) []string {
	var out []string
	for name := range env.Properties {
		out = append(out, name)
	}
	out = append(out, env.Required...)
	if env.Not != nil {
		out = append(out, env.Not.Required...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestProductionRulesCannotBeBypassedByExtraEnv: every variable that the production rules of
// values.schema.json pin or forbid in a service's env (COOKIE_SECURE, PAYMENT_PROVIDER,
// STRIPE_API_BASE...) is refused as a name in that service's extraEnv, in every environment:
// otherwise an extraEnv entry, rendered after env, would override it (Kubernetes keeps the
// last of two entries of one name) and run production with an offline provider or insecure
// cookies.
func TestProductionRulesCannotBeBypassedByExtraEnv(t *testing.T) {
	data := readFile(t, filepath.Join(repoRoot(t), "infra", "helm", "ticketing", "values.schema.json"))
	var schema schemaNode
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, rule := range schema.AllOf {
		if rule.If == nil || rule.Then == nil {
			continue
		}
		g := rule.If.Properties["global"]
		if g == nil || g.Properties["environment"] == nil || g.Properties["environment"].Const != "production" {
			continue
		}
		for svc, then := range rule.Then.Properties {
			env := then.Properties["env"]
			if env == nil {
				continue
			}
			node := schema.Properties[svc]
			if node == nil || node.Properties["extraEnv"] == nil || node.Properties["extraEnv"].Items == nil {
				t.Errorf("%s: a production rule governs its env, but it has no extraEnv schema to close", svc)
				continue
			}
			name := node.Properties["extraEnv"].Items.Properties["name"]
			var refused []any
			if name != nil && name.Not != nil {
				refused = name.Not.Enum
			}
			for _, v := range governed(env) {
				checked++
				if !slices.Contains(refused, any(v)) {
					t.Errorf("%s.extraEnv may set %s, which the production rules govern in %s.env", svc, v, svc)
				}
			}
		}
	}
	if checked < 3 {
		t.Fatalf("found %d governed variables in the production rules, want COOKIE_SECURE, PAYMENT_PROVIDER and STRIPE_API_BASE at least", checked)
	}
}

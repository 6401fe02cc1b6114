package user

import (
	"errors"
	"strings"
	"testing"
)

func TestEmailRules(t *testing.T) {
	long := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com" // 254 bytes
	for _, tc := range []struct {
		in, norm string
		valid    bool
	}{
		{"test@test.com", "test@test.com", true},
		{"  Ann.Lee+tickets@Example.COM \n", "ann.lee+tickets@example.com", true},
		{"o'brien@sub.example.co.uk", "o'brien@sub.example.co.uk", true},
		{"ÄNNE@exämple.de", "änne@exämple.de", true},
		{long, long, true},
		{long[:63] + "aa" + long[64:], long[:63] + "aa" + long[64:], false}, // 255 bytes
		{"", "", false},
		{"   ", "", false},
		{"test", "test", false},
		{"test@", "test@", false},
		{"@test.com", "@test.com", false},
		{"test@localhost", "test@localhost", false},
		{"test@test..com", "test@test..com", false},
		{"test@test.com.", "test@test.com.", false},
		{"test@[127.0.0.1]", "test@[127.0.0.1]", false},
		{"a@b@test.com", "a@b@test.com", false},
		{"Ann <ann@test.com>", "ann <ann@test.com>", false},
		{"<ann@test.com>", "<ann@test.com>", false},
		{"ann@test.com (Ann)", "ann@test.com (ann)", false},
		{`"ann lee"@test.com`, `"ann lee"@test.com`, false},
		{"ann@test.com, bob@test.com", "ann@test.com, bob@test.com", false},
		{"ann lee@test.com", "ann lee@test.com", false},
		{"ann@te st.com", "ann@te st.com", false},
		{"ann\x00@test.com", "ann\x00@test.com", false},
	} {
		if got := NormalizeEmail(tc.in); got != tc.norm {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", tc.in, got, tc.norm)
		}
		if got := ValidEmail(NormalizeEmail(tc.in)); got != tc.valid {
			t.Errorf("ValidEmail(%q) = %v, want %v", NormalizeEmail(tc.in), got, tc.valid)
		}
	}
}

func TestPasswordRules(t *testing.T) {
	for _, tc := range []struct {
		name, pw string
		valid    bool
	}{
		{"empty", "", false},
		{"7 characters", "abcdefg", false},
		{"8 characters", "abcdefgh", true},
		{"8 spaces", "        ", true},
		{"no composition rules", "aaaaaaaaaaaa", true},
		{"128 characters", strings.Repeat("x", 128), true},
		{"129 characters", strings.Repeat("x", 129), false},
		{"128 multi-byte characters (512 bytes)", strings.Repeat("🎟", 128), true},
		{"129 multi-byte characters", strings.Repeat("🎟", 129), false},
		{"7 multi-byte characters (28 bytes)", strings.Repeat("🎟", 7), false},
		{"8 two-byte characters", "éééééééé", true},
	} {
		if got := ValidPassword(tc.pw); got != tc.valid {
			t.Errorf("%s: ValidPassword = %v, want %v", tc.name, got, tc.valid)
		}
	}
}

func TestCredentialErrorsNameTheirFields(t *testing.T) {
	fields := func(err error) []string {
		var out []string
		if errors.Is(err, ErrEmailInvalid) {
			out = append(out, "email")
		}
		if errors.Is(err, ErrPasswordLength) || errors.Is(err, ErrPasswordEmpty) {
			out = append(out, "password")
		}
		return out
	}
	for _, tc := range []struct {
		name       string
		err        error
		wantFields string
		wantErrors []error
	}{
		{"signup ok", second(NewSignUp(" A@B.co ", "12345678")), "", nil},
		{"signup bad email", second(NewSignUp("nope", "12345678")), "email", []error{ErrEmailInvalid}},
		{"signup short password", second(NewSignUp("a@b.co", "1234567")), "password", []error{ErrPasswordLength}},
		{"signup both", second(NewSignUp("", "")), "email,password", []error{ErrEmailInvalid, ErrPasswordLength}},
		{"signin ok, any length", second(NewSignIn("a@b.co", "x")), "", nil},
		{"signin no password", second(NewSignIn("a@b.co", "")), "password", []error{ErrPasswordEmpty}},
		{"signin bad email", second(NewSignIn("a@", "12345678")), "email", []error{ErrEmailInvalid}},
	} {
		if got := strings.Join(fields(tc.err), ","); got != tc.wantFields {
			t.Errorf("%s: fields %q, want %q (err %v)", tc.name, got, tc.wantFields, tc.err)
		}
		for _, want := range tc.wantErrors {
			if !errors.Is(tc.err, want) {
				t.Errorf("%s: %v, want %v", tc.name, tc.err, want)
			}
		}
	}
	c, _ := NewSignUp("  Mixed@Case.Org ", "12345678")
	if c.Email != "mixed@case.org" {
		t.Errorf("NewSignUp email = %q, want normalised", c.Email)
	}
}

func second[A, B any](_ A, b B) B { return b }

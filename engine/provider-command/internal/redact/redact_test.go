package redact

import (
	"strings"
	"testing"
)

func TestMasksWholeValuesAndLinesOfMultiLineSecrets(t *testing.T) {
	key := "-----BEGIN KEY-----\nAAAAB3NzaC1yc2EAAAADAQAB\nQ0FGRUJBQkVDQUZFQkFCRQ==\n-----END KEY-----"
	r := New([]string{"hunter22", key, ""})
	for in, want := range map[string]string{
		"password hunter22 rejected":               "password [secret] rejected",
		"dump:\n" + key:                            "dump:\n[secret]",
		"one line: QXXX QQ0FGRUJBQkVDQUZFQkFCRQ==": "one line: QXXX Q[secret]",
		"nothing secret here":                      "nothing secret here",
	} {
		if got := r.String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
	// Short lines of a multi-line secret are not masked on their own.
	if got := r.String("-----"); got != "-----" {
		t.Errorf("masked a short line: %q", got)
	}
	if !r.Contains("x hunter22") || r.Contains("hunter2") {
		t.Error("Contains")
	}
	var none *Redactor
	if none.String("hunter22") != "hunter22" {
		t.Error("nil redactor must mask nothing")
	}
	// A secret containing another is masked whole, not in pieces.
	r = New([]string{"abc", "xxabcxx"})
	if got := r.String("[xxabcxx]"); got != "[[secret]]" || strings.Contains(got, "xx") {
		t.Errorf("got %q", got)
	}
}

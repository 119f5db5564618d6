// Package redact keeps secret input values out of the text the provider sends back to the
// engine: error messages and streamed command output. The engine shows both to the user as
// plain text, so a secret that a command echoes or an error quotes would otherwise leak.
package redact

import (
	"context"
	"sort"
	"strings"
)

// Mask replaces every secret in redacted text.
const Mask = "[secret]"

// minLineLen: a multi-line secret (a private key, a config file) is also redacted line by
// line, because output is streamed line by line; shorter lines ("-----", "[DEFAULT]") say
// nothing secret on their own and masking them would only garble unrelated output.
const minLineLen = 8

// Redactor masks a fixed set of secret strings.
type Redactor struct {
	tokens []string // longest first, so a secret that contains another is masked whole
}

// New returns a Redactor for the given secret values (empty values are ignored).
func New(secrets []string) *Redactor {
	seen := map[string]bool{}
	var tokens []string
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			tokens = append(tokens, s)
		}
	}
	for _, s := range secrets {
		add(s)
		if strings.Contains(s, "\n") {
			for _, line := range strings.Split(s, "\n") {
				if line = strings.TrimSpace(line); len(line) >= minLineLen {
					add(line)
				}
			}
		}
	}
	sort.SliceStable(tokens, func(i, j int) bool { return len(tokens[i]) > len(tokens[j]) })
	return &Redactor{tokens: tokens}
}

// String returns s with every secret masked. A nil Redactor masks nothing.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	for _, t := range r.tokens {
		if strings.Contains(s, t) {
			s = strings.ReplaceAll(s, t, Mask)
		}
	}
	return s
}

// Contains reports whether s holds any secret.
func (r *Redactor) Contains(s string) bool {
	if r == nil {
		return false
	}
	for _, t := range r.tokens {
		if strings.Contains(s, t) {
			return true
		}
	}
	return false
}

type ctxKey struct{}

// With returns ctx carrying r, for code deep in a resource operation that logs output.
func With(ctx context.Context, r *Redactor) context.Context {
	return context.WithValue(ctx, ctxKey{}, r)
}

// From returns the Redactor in ctx, or nil (which masks nothing).
func From(ctx context.Context) *Redactor {
	r, _ := ctx.Value(ctxKey{}).(*Redactor)
	return r
}

package provider

import (
	"context"
	"errors"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"google.golang.org/grpc/status"

	"novalab/engine/provider-command/internal/redact"
)

// guardSecrets wraps each operation that sees inputs: it gathers the secret strings of the
// request, masks them in streamed output (via the context) and in the returned error, and
// marks secret any plain output that holds one (a command that echoes its secret stdin
// must not put it into state as plain stdout).
func guardSecrets(prov p.Provider) p.Provider {
	check, diff, create, update, del, invoke := prov.Check, prov.Diff, prov.Create, prov.Update, prov.Delete, prov.Invoke

	prov.Check = func(ctx context.Context, req p.CheckRequest) (p.CheckResponse, error) {
		r := redactorFor(req.Inputs, req.State)
		resp, err := check(redact.With(ctx, r), req)
		return resp, redactError(r, err)
	}
	prov.Diff = func(ctx context.Context, req p.DiffRequest) (p.DiffResponse, error) {
		r := redactorFor(req.Inputs, req.OldInputs, req.State)
		resp, err := diff(redact.With(ctx, r), req)
		return resp, redactError(r, err)
	}
	prov.Create = func(ctx context.Context, req p.CreateRequest) (p.CreateResponse, error) {
		r := redactorFor(req.Properties)
		resp, err := create(redact.With(ctx, r), req)
		resp.Properties = protect(r, resp.Properties)
		return resp, redactError(r, err)
	}
	prov.Update = func(ctx context.Context, req p.UpdateRequest) (p.UpdateResponse, error) {
		r := redactorFor(req.Inputs, req.OldInputs, req.State)
		resp, err := update(redact.With(ctx, r), req)
		resp.Properties = protect(r, resp.Properties)
		return resp, redactError(r, err)
	}
	prov.Delete = func(ctx context.Context, req p.DeleteRequest) error {
		r := redactorFor(req.Properties, req.OldInputs)
		return redactError(r, del(redact.With(ctx, r), req))
	}
	prov.Invoke = func(ctx context.Context, req p.InvokeRequest) (p.InvokeResponse, error) {
		r := redactorFor(req.Args)
		resp, err := invoke(redact.With(ctx, r), req)
		resp.Return = protect(r, resp.Return)
		return resp, redactError(r, err)
	}
	return prov
}

// connectionSecrets are the connection fields that are secret by the schema. The SDK wraps
// the whole connection in a secret, which would make host and user "secret" too; masking
// those would hide which host failed, so inside a connection only these fields (and values
// the program marked secret itself) count.
var connectionSecrets = map[string]bool{"password": true, "privateKey": true, "privateKeyPassword": true}

func redactorFor(maps ...property.Map) *redact.Redactor {
	var secrets []string
	for _, m := range maps {
		for key, v := range m.All {
			if key == "connection" {
				collectConnection(v, &secrets)
			} else {
				collect(v, v.Secret(), &secrets)
			}
		}
	}
	return redact.New(secrets)
}

// collect appends the strings under v that are secret (inSecret: an enclosing value is).
func collect(v property.Value, inSecret bool, out *[]string) {
	inSecret = inSecret || v.Secret()
	switch {
	case v.IsString():
		if inSecret {
			*out = append(*out, v.AsString())
		}
	case v.IsArray():
		for _, e := range v.AsArray().All {
			collect(e, inSecret, out)
		}
	case v.IsMap():
		for _, e := range v.AsMap().All {
			collect(e, inSecret, out)
		}
	}
}

func collectConnection(v property.Value, out *[]string) {
	if !v.IsMap() {
		collect(v, false, out)
		return
	}
	for key, field := range v.AsMap().All {
		switch {
		case connectionSecrets[key]:
			collect(field, true, out)
		case key == "proxy":
			collectConnection(field, out)
		default:
			collect(field, false, out)
		}
	}
}

// protect marks secret every top-level string output that contains a secret.
func protect(r *redact.Redactor, m property.Map) property.Map {
	for key, v := range m.All {
		if v.IsString() && !v.Secret() && r.Contains(v.AsString()) {
			m = m.Set(key, v.WithSecret(true))
		}
	}
	return m
}

// redactError masks secrets in err's text, keeping a gRPC status code (the engine acts on
// some, e.g. Unimplemented).
func redactError(r *redact.Redactor, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := r.String(msg)
	if clean == msg {
		return err
	}
	if st, ok := status.FromError(err); ok {
		return status.Error(st.Code(), r.String(st.Message()))
	}
	return errors.New(clean)
}

// Package provider assembles the command provider: the inferred resources and the invoke,
// wrapped so that secret inputs never leave it in plain text.
package provider

import (
	"context"
	"strings"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi-go-provider/middleware/schema"

	"novalab/engine/provider-command/local"
	"novalab/engine/provider-command/remote"
)

// Name is the package name the SDK's tokens start with (command:remote:Command, ...).
const Name = "command"

// New returns the provider. Tokens come from the Go package and type names
// (remote.Command -> command:remote:Command, local.Run -> command:local:run).
func New() p.Provider {
	return guardSecrets(replaceOnTriggers(infer.Provider(infer.Options{
		Metadata: schema.Metadata{
			DisplayName: "Command",
			Description: "Run commands locally or on remote hosts over SSH as part of the resource model " +
				"(novalab's implementation of pulumi-command).",
		},
		Resources: []infer.InferredResource{
			infer.Resource(remote.NewCommand(remote.NewPool())),
			infer.Resource(&remote.CopyToRemote{}),
			infer.Resource(&remote.CopyFile{}),
			infer.Resource(&local.Command{}),
		},
		Functions: []infer.InferredFunction{
			infer.Function(&local.Run{}),
		},
	})))
}

// replaceOnTriggers makes a change inside `triggers` a replacement. infer matches the
// schema's replaceOnChanges against whole property names, but a changed element diffs as
// "triggers[0]", which it then calls a plain update. (Programs using the SDK also ask the
// engine for replace_on_changes=["triggers[*]"], so they were replaced anyway; this makes the
// provider's own diff, and so the preview, say it.) CopyFile needs nothing: it has no update,
// so every change replaces it.
func replaceOnTriggers(prov p.Provider) p.Provider {
	diff := prov.Diff
	prov.Diff = func(ctx context.Context, req p.DiffRequest) (p.DiffResponse, error) {
		resp, err := diff(ctx, req)
		if err != nil {
			return resp, err
		}
		for path, d := range resp.DetailedDiff {
			if path == "triggers" || strings.HasPrefix(path, "triggers[") || strings.HasPrefix(path, "triggers.") {
				if kind, ok := asReplace[d.Kind]; ok {
					d.Kind = kind
					resp.DetailedDiff[path] = d
				}
			}
		}
		return resp, nil
	}
	return prov
}

var asReplace = map[p.DiffKind]p.DiffKind{
	p.Add: p.AddReplace, p.AddReplace: p.AddReplace,
	p.Delete: p.DeleteReplace, p.DeleteReplace: p.DeleteReplace,
	p.Update: p.UpdateReplace, p.UpdateReplace: p.UpdateReplace,
}

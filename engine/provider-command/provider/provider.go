// Package provider assembles the command provider: the inferred resources and the invoke,
// wrapped so that secret inputs never leave it in plain text.
package provider

import (
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
	return guardSecrets(infer.Provider(infer.Options{
		Metadata: schema.Metadata{
			DisplayName: "Command",
			Description: "Run commands locally or on remote hosts over SSH as part of the resource model " +
				"(novalab's implementation of pulumi-command).",
		},
		Resources: []infer.InferredResource{
			infer.Resource(&remote.Command{}),
			infer.Resource(&remote.CopyToRemote{}),
			infer.Resource(&remote.CopyFile{}),
			infer.Resource(&local.Command{}),
		},
		Functions: []infer.InferredFunction{
			infer.Function(&local.Run{}),
		},
	}))
}

// Command pulumi-resource-command is novalab's own Pulumi "command" resource provider,
// compatible with the pulumi_command Python SDK of the same version.
package main

import (
	"context"
	"fmt"
	"os"

	"novalab/engine/provider-command/provider"
)

// version is stamped by build.sh (-X main.version=...) from the installed SDK's
// pulumi-plugin.json, so the provider and its schema report what the SDK asks for.
var version = "0.0.0-dev"

func main() {
	if err := provider.New().Run(context.Background(), provider.Name, version); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}

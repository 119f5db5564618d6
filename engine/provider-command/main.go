// Command pulumi-resource-command is novalab's own Pulumi "command" resource provider,
// compatible with the pulumi_command Python SDK of the same version.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"novalab/engine/provider-command/provider"
)

// version is stamped by build.sh (-X main.version=...) from the installed SDK's
// pulumi-plugin.json, so the provider and its schema report what the SDK asks for.
var version = "0.0.0-dev"

func main() {
	exitWithParent()
	if err := provider.New().Run(context.Background(), provider.Name, version); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}

// exitWithParent ends the plugin once the engine that started it is gone (reparented after a
// SIGKILL): the SDK's own health check cancels a context its server does not listen to, so such a
// plugin would otherwise run forever.
func exitWithParent() {
	parent := os.Getppid()
	go func() {
		for range time.Tick(2 * time.Second) {
			if os.Getppid() != parent {
				os.Exit(0)
			}
		}
	}()
}

// Command pulumi-resource-openstack is the openstack resource plugin the Pulumi engine starts.
// Its schema and bridge metadata are compiled in (see schema_embedded.go); build it with build.sh.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"

	provider "novalab/engine/provider-openstack"
)

func main() {
	if len(schemaJSON) == 0 {
		fmt.Fprintln(os.Stderr, "pulumi-resource-openstack was built without its schema: build it with engine/provider-openstack/build.sh")
		os.Exit(1)
	}
	exitWithParent()
	info, err := provider.Provider(bridgeMetadataJSON)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tfbridge.Main("openstack", provider.Version, info, schemaJSON)
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

// Command pulumi-tfgen-openstack writes the Pulumi package schema (schema.json) and the bridge's
// metadata (bridge-metadata.json) of novalab's openstack provider:
//
//	pulumi-tfgen-openstack schema --skip-examples --out DIR
//
// Run it with the module directory (named "provider", see build.sh) as working directory: tfgen
// reads the Terraform provider's docs from the Go module cache through that go.mod.
package main

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"

	provider "novalab/engine/provider-openstack"
)

func main() {
	info, err := provider.Provider(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tfgen.Main("openstack", provider.Version, info)
}

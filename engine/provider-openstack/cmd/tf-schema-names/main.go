// Command tf-schema-names prints, as JSON, every resource and data source of the bridged
// terraform-provider-openstack with its top-level attribute names. scripts/derive_tokens.py reads it
// to match each TF name with a class or function of the installed Python SDK.
package main

import (
	"encoding/json"
	"os"
	"sort"

	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"
	"github.com/terraform-provider-openstack/terraform-provider-openstack/v3/openstack"
)

type element struct {
	Attributes []string `json:"attributes"`
	Deprecated string   `json:"deprecated,omitempty"`
}

func describe(m map[string]*schema.Resource) map[string]element {
	out := make(map[string]element, len(m))
	for name, r := range m {
		attrs := make([]string, 0, len(r.Schema))
		for attr := range r.Schema {
			attrs = append(attrs, attr)
		}
		sort.Strings(attrs)
		out[name] = element{Attributes: attrs, Deprecated: r.DeprecationMessage}
	}
	return out
}

func main() {
	p := openstack.Provider()
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]map[string]element{
		"resources":   describe(p.ResourcesMap),
		"dataSources": describe(p.DataSourcesMap),
	}); err != nil {
		os.Exit(1)
	}
}

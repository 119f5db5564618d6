// Package provider is novalab's Pulumi bridge of terraform-provider-openstack: the ProviderInfo
// that both the schema generator (cmd/pulumi-tfgen-openstack) and the provider plugin
// (cmd/pulumi-resource-openstack) are built from. Both must see the same ProviderInfo, or the
// plugin would serve a different shape than its schema describes.
package provider

import (
	_ "embed" // tokens.json
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	shim "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/terraform-provider-openstack/terraform-provider-openstack/v3/openstack"
)

// Version is the plugin's version, stamped at link time by build.sh
// (-X novalab/engine/provider-openstack.Version=...) from the installed SDK's pulumi-plugin.json.
var Version = "0.0.0-dev"

const packageName = "openstack"

// tokensJSON is the explicit token table: every TF resource and data source -> the token the
// installed Python SDK uses for it (plus deprecated legacy tokens the SDK still ships).
// Derived by scripts/derive_tokens.py, reviewed and committed.
//
//go:embed tokens.json
var tokensJSON []byte

type tokenEntry struct {
	Token  string   `json:"token"`
	Legacy []string `json:"legacy,omitempty"`
}

// TokenTable is tokens.json parsed.
type TokenTable struct {
	SDK struct {
		Package string `json:"package"`
		Version string `json:"version"`
	} `json:"sdk"`
	Resources   map[string]tokenEntry `json:"resources"`
	DataSources map[string]tokenEntry `json:"dataSources"`
}

// Tokens parses the embedded token table.
func Tokens() (TokenTable, error) {
	var t TokenTable
	if err := json.Unmarshal(tokensJSON, &t); err != nil {
		return t, fmt.Errorf("tokens.json: %w", err)
	}
	return t, nil
}

// configEnv are the provider config keys whose defaults the Python SDK itself reads from the
// environment (pulumi_openstack/config/vars.py); the schema says so, so every SDK agrees. The other
// OS_* variables (OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, ...) are read by the Terraform provider's
// own defaults when the provider is configured.
var configEnv = map[string]string{
	"region":        "OS_REGION_NAME",
	"insecure":      "OS_INSECURE",
	"endpoint_type": "OS_ENDPOINT_TYPE",
	"swauth":        "OS_SWAUTH",
	"cloud":         "OS_CLOUD",
	"delayed_auth":  "OS_DELAYED_AUTH",
	"allow_reauth":  "OS_ALLOW_REAUTH",
}

// resourceFields are the property names the SDK uses that the bridge's automatic naming would get
// wrong (found by tests/test_engine_openstack.py comparing the schema with the SDK).
var resourceFields = map[string]map[string]*tfbridge.SchemaInfo{
	"openstack_networking_subnet_v2": {
		"allocation_pool": {Name: "allocationPools"},
	},
	"openstack_orchestration_stack_v1": {
		// upstream's name for TF `outputs` (capitalised, as the SDK has it)
		"outputs": {Name: "StackOutputs"},
	},
}

// docSources name the doc page of a TF element whose page name does not follow its TF name.
var docSources = map[string]*tfbridge.DocInfo{
	"openstack_loadbalancer_flavor_v2": {Source: "lb_flavor_v2.md"},
}

// legacyDeprecation is the deprecation text of a legacy token, in the SDK's own wording:
// "openstack.index/bgpvpnv2.BgpvpnV2 has been deprecated in favor of openstack.bgpvpn/v2.V2".
func legacyDeprecation(legacy, current string) string {
	describe := func(tok string) string {
		parts := strings.Split(tok, ":") // pkg, module/file, Name
		return parts[0] + "." + strings.ToLower(parts[1]) + "." + parts[2]
	}
	return describe(legacy) + " has been deprecated in favor of " + describe(current)
}

// Provider builds the ProviderInfo. metadata is the bridge-metadata.json written by tfgen (nil
// while generating it).
func Provider(metadata []byte) (tfbridge.ProviderInfo, error) {
	table, err := Tokens()
	if err != nil {
		return tfbridge.ProviderInfo{}, err
	}
	prov := tfbridge.ProviderInfo{
		P:                       shimv2.NewProvider(openstack.Provider()),
		Name:                    packageName,
		Description:             "A Pulumi package for creating and managing OpenStack cloud resources.",
		Keywords:                []string{"pulumi", "openstack"},
		License:                 "Apache-2.0",
		GitHubOrg:               "terraform-provider-openstack",
		TFProviderModuleVersion: "v3",
		MetadataInfo:            tfbridge.NewProviderMetadata(metadata),
		Version:                 Version,
		Config:                  map[string]*tfbridge.SchemaInfo{},
		Resources:               map[string]*tfbridge.ResourceInfo{},
		DataSources:             map[string]*tfbridge.DataSourceInfo{},
		Python:                  &tfbridge.PythonInfo{RespectSchemaVersion: true},
	}
	for key, env := range configEnv {
		prov.Config[key] = &tfbridge.SchemaInfo{Default: &tfbridge.DefaultInfo{EnvVars: []string{env}}}
	}

	if err := checkCoverage(prov, table); err != nil {
		return tfbridge.ProviderInfo{}, err
	}
	for _, tf := range sortedKeys(table.Resources) {
		entry := table.Resources[tf]
		info := &tfbridge.ResourceInfo{Tok: tokens.Type(entry.Token), Fields: resourceFields[tf]}
		prov.Resources[tf] = info
		for _, legacy := range entry.Legacy {
			// A copy of the TF resource under "<name>_legacy" serves the old token; the current
			// token lists it as an alias, so state made with the old class moves over.
			prov.RenameResourceWithAlias(tf, tokens.Type(legacy), tokens.Type(entry.Token), "", "", info)
			prov.Resources[tf+tfbridge.RenamedEntitySuffix].DeprecationMessage = legacyDeprecation(legacy, entry.Token)
		}
	}
	for _, tf := range sortedKeys(table.DataSources) {
		entry := table.DataSources[tf]
		info := &tfbridge.DataSourceInfo{Tok: tokens.ModuleMember(entry.Token), Docs: docSources[tf]}
		prov.DataSources[tf] = info
		for _, legacy := range entry.Legacy {
			prov.RenameDataSource(tf, tokens.ModuleMember(legacy), tokens.ModuleMember(entry.Token), "", "", info)
			prov.DataSources[tf+tfbridge.RenamedEntitySuffix].DeprecationMessage = legacyDeprecation(legacy, entry.Token)
		}
	}

	// `name` inputs default to "<resource name>-<random>" as in the SDK (where they are optional).
	prov.SetAutonaming(255, "-")
	return prov, nil
}

// checkCoverage fails when the TF provider has a resource or data source the table does not map,
// or the table maps one the TF provider does not have (an upgrade moved something).
func checkCoverage(prov tfbridge.ProviderInfo, table TokenTable) error {
	var problems []string
	compare := func(kind string, tf map[string]bool, mapped map[string]tokenEntry) {
		for name := range tf {
			if _, ok := mapped[name]; !ok {
				problems = append(problems, fmt.Sprintf("%s %s has no token", kind, name))
			}
		}
		for name := range mapped {
			if !tf[name] {
				problems = append(problems, fmt.Sprintf("%s %s is in tokens.json but not in the TF provider", kind, name))
			}
		}
	}
	compare("resource", keySet(prov.P.ResourcesMap()), table.Resources)
	compare("data source", keySet(prov.P.DataSourcesMap()), table.DataSources)
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("token table out of date (run scripts/derive_tokens.py):\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

func keySet(m shim.ResourceMap) map[string]bool {
	keys := map[string]bool{}
	m.Range(func(key string, _ shim.Resource) bool {
		keys[key] = true
		return true
	})
	return keys
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

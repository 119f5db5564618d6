package provider

import (
	"strings"
	"testing"
	"unicode"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	shim "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim"
)

func mustProvider(t *testing.T) tfbridge.ProviderInfo {
	t.Helper()
	prov, err := Provider(nil)
	if err != nil {
		t.Fatal(err)
	}
	return prov
}

// Every resource and data source of the TF provider has a token, and the table names nothing the
// TF provider lacks (Provider fails otherwise; this is the check an upgrade trips first).
func TestEveryTFElementHasAToken(t *testing.T) {
	prov := mustProvider(t)
	prov.P.ResourcesMap().Range(func(name string, _ shim.Resource) bool {
		if info, ok := prov.Resources[name]; !ok || info.Tok == "" {
			t.Errorf("resource %s has no token", name)
		}
		return true
	})
	prov.P.DataSourcesMap().Range(func(name string, _ shim.Resource) bool {
		if info, ok := prov.DataSources[name]; !ok || info.Tok == "" {
			t.Errorf("data source %s has no token", name)
		}
		return true
	})
	if prov.P.ResourcesMap().Len() < 100 || prov.P.DataSourcesMap().Len() < 60 {
		t.Errorf("the TF provider has only %d resources and %d data sources", prov.P.ResourcesMap().Len(), prov.P.DataSourcesMap().Len())
	}
}

func TestTableCheckNamesWhatIsMissing(t *testing.T) {
	table, err := Tokens()
	if err != nil {
		t.Fatal(err)
	}
	delete(table.Resources, "openstack_compute_instance_v2")
	table.DataSources["openstack_compute_no_such_thing_v2"] = tokenEntry{Token: "openstack:compute/getNoSuchThing:getNoSuchThing"}
	err = checkCoverage(mustProvider(t), table)
	if err == nil {
		t.Fatal("a table without openstack_compute_instance_v2 passed the coverage check")
	}
	for _, want := range []string{"resource openstack_compute_instance_v2 has no token", "data source openstack_compute_no_such_thing_v2 is in tokens.json"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("coverage error %q does not say %q", err, want)
		}
	}
}

// No two TF elements share a token (current or legacy): the engine could not tell them apart.
func TestTokensAreUnique(t *testing.T) {
	prov := mustProvider(t)
	seen := map[string]string{}
	for name, info := range prov.Resources {
		if other, dup := seen[string(info.Tok)]; dup {
			t.Errorf("resource token %s used by %s and %s", info.Tok, name, other)
		}
		seen[string(info.Tok)] = name
	}
	for name, info := range prov.DataSources {
		if other, dup := seen[string(info.Tok)]; dup {
			t.Errorf("function token %s used by %s and %s", info.Tok, name, other)
		}
		seen[string(info.Tok)] = name
	}
}

// Tokens have the shape the SDKs are generated from: openstack:<module>/<name, first letter
// lower-cased>:<Name>.
func TestTokensAreWellFormed(t *testing.T) {
	prov := mustProvider(t)
	check := func(tok string) {
		parts := strings.Split(tok, ":")
		if len(parts) != 3 || parts[0] != "openstack" {
			t.Errorf("token %s is not openstack:<module>/<file>:<Name>", tok)
			return
		}
		mod, file, _ := strings.Cut(parts[1], "/")
		name := parts[2]
		if mod == "" || strings.ToLower(mod) != mod {
			t.Errorf("token %s: module %q is not lower-case", tok, mod)
		}
		if want := string(unicode.ToLower(rune(name[0]))) + name[1:]; file != want {
			t.Errorf("token %s: member file %q, want %q", tok, file, want)
		}
	}
	for _, info := range prov.Resources {
		check(string(info.Tok))
	}
	for _, info := range prov.DataSources {
		check(string(info.Tok))
	}
}

// The tokens novalab's program and the README rely on.
func TestProgramTokens(t *testing.T) {
	prov := mustProvider(t)
	for tf, want := range map[string]string{
		"openstack_compute_instance_v2":                "openstack:compute/instance:Instance",
		"openstack_compute_flavor_v2":                  "openstack:compute/flavor:Flavor",
		"openstack_compute_keypair_v2":                 "openstack:compute/keypair:Keypair",
		"openstack_compute_volume_attach_v2":           "openstack:compute/volumeAttach:VolumeAttach",
		"openstack_blockstorage_volume_v3":             "openstack:blockstorage/volume:Volume",
		"openstack_networking_floatingip_v2":           "openstack:networking/floatingIp:FloatingIp",
		"openstack_networking_floatingip_associate_v2": "openstack:networking/floatingIpAssociate:FloatingIpAssociate",
		"openstack_identity_ec2_credential_v3":         "openstack:identity/ec2CredentialV3:Ec2CredentialV3",
	} {
		if got := string(prov.Resources[tf].Tok); got != want {
			t.Errorf("%s: token %q, want %q", tf, got, want)
		}
	}
	for tf, want := range map[string]string{
		"openstack_compute_flavor_v2":     "openstack:compute/getFlavor:getFlavor",
		"openstack_images_image_v2":       "openstack:images/getImage:getImage",
		"openstack_networking_network_v2": "openstack:networking/getNetwork:getNetwork",
		// twins in TF: the deprecated one keeps the SDK's own name for it
		"openstack_lb_flavor_v2":           "openstack:loadbalancer/getFlavorV2:getFlavorV2",
		"openstack_loadbalancer_flavor_v2": "openstack:loadbalancer/getLbFlavorDeprecated:getLbFlavorDeprecated",
	} {
		if got := string(prov.DataSources[tf].Tok); got != want {
			t.Errorf("%s: token %q, want %q", tf, got, want)
		}
	}
}

// A legacy token is served by a deprecated copy of the resource, and the current token lists it
// as an alias, so a stack made with the old class moves to the new one without a replace.
func TestLegacyTokensAreDeprecatedAliases(t *testing.T) {
	prov := mustProvider(t)
	legacy, ok := prov.Resources["openstack_bgpvpn_v2"+tfbridge.RenamedEntitySuffix]
	if !ok {
		t.Fatal("no legacy copy of openstack_bgpvpn_v2")
	}
	if legacy.Tok != "openstack:index/bgpvpnV2:BgpvpnV2" {
		t.Errorf("legacy token %s", legacy.Tok)
	}
	wantMsg := "openstack.index/bgpvpnv2.BgpvpnV2 has been deprecated in favor of openstack.bgpvpn/v2.V2"
	if legacy.DeprecationMessage != wantMsg {
		t.Errorf("deprecation %q, want %q", legacy.DeprecationMessage, wantMsg)
	}
	current := prov.Resources["openstack_bgpvpn_v2"]
	if current.Tok != "openstack:bgpvpn/v2:V2" || len(current.Aliases) != 1 || *current.Aliases[0].Type != string(legacy.Tok) {
		t.Errorf("current resource %s does not alias the legacy token: %+v", current.Tok, current.Aliases)
	}
	if prov.P.ResourcesMap().Get("openstack_bgpvpn_v2"+tfbridge.RenamedEntitySuffix) == nil {
		t.Error("the legacy token has no TF resource behind it")
	}
	fn, ok := prov.DataSources["openstack_workflow_workflow_v2"+tfbridge.RenamedEntitySuffix]
	if !ok || fn.Tok != "openstack:index/workflowWorkflowV2:WorkflowWorkflowV2" || fn.DeprecationMessage == "" {
		t.Errorf("legacy function of openstack_workflow_workflow_v2: %+v", fn)
	}
}

// The config keys whose environment defaults the SDK also reads, and autonamed `name` inputs.
func TestConfigDefaultsAndAutonaming(t *testing.T) {
	prov := mustProvider(t)
	region := prov.Config["region"]
	if region == nil || region.Default == nil || len(region.Default.EnvVars) != 1 || region.Default.EnvVars[0] != "OS_REGION_NAME" {
		t.Errorf("region config default: %+v", region)
	}
	name := prov.Resources["openstack_compute_keypair_v2"].Fields["name"]
	if name == nil || name.Default == nil || name.Default.AutoNamed != true {
		t.Errorf("keypair name is not autonamed: %+v", name)
	}
	if _, ok := prov.Resources["openstack_identity_ec2_credential_v3"].Fields["name"]; ok {
		t.Error("ec2 credentials have no name input, but got an autoname")
	}
}

func TestLegacyDeprecationWording(t *testing.T) {
	got := legacyDeprecation("openstack:index/getFwGroupV2:getFwGroupV2", "openstack:firewall/getGroupV2:getGroupV2")
	want := "openstack.index/getfwgroupv2.getFwGroupV2 has been deprecated in favor of openstack.firewall/getgroupv2.getGroupV2"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

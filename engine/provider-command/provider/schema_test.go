package provider

import (
	"context"
	"fmt"
	"testing"

	p "github.com/pulumi/pulumi-go-provider"
)

// The full comparison with the installed Python SDK is in tests/test_engine_command.py; this
// pins what matters most without Python: tokens, secrets, defaults, replacement, version.
func TestSchemaTokensSecretsAndDefaults(t *testing.T) {
	spec, err := p.GetSchema(context.Background(), Name, "9.8.7", New())
	if err != nil {
		t.Fatal(err)
	}
	if spec.Name != "command" || spec.Version != "9.8.7" {
		t.Errorf("name %q version %q", spec.Name, spec.Version)
	}
	for _, tok := range []string{"command:remote:Command", "command:local:Command", "command:remote:CopyToRemote", "command:remote:CopyFile"} {
		if _, ok := spec.Resources[tok]; !ok {
			t.Errorf("no resource %s", tok)
		}
	}
	if _, ok := spec.Functions["command:local:run"]; !ok {
		t.Error("no function command:local:run")
	}
	cmd := spec.Resources["command:remote:Command"]
	if !cmd.InputProperties["connection"].Secret || !cmd.InputProperties["triggers"].ReplaceOnChanges {
		t.Error("connection must be secret and triggers replace")
	}
	for _, typ := range []string{"command:remote:Connection", "command:remote:ProxyConnection"} {
		props := spec.Types[typ].Properties
		for _, s := range []string{"password", "privateKey", "privateKeyPassword"} {
			if !props[s].Secret {
				t.Errorf("%s.%s not secret", typ, s)
			}
		}
		for name, want := range map[string]any{"user": "root", "port": 22, "dialErrorLimit": 10, "perDialTimeout": 15} {
			if fmt.Sprint(props[name].Default) != fmt.Sprint(want) {
				t.Errorf("%s.%s default %v, want %v", typ, name, props[name].Default, want)
			}
		}
	}
	if spec.Types["command:remote:Connection"].Properties["proxy"].Ref != "#/types/command:remote:ProxyConnection" {
		t.Error("connection.proxy is not a ProxyConnection")
	}
	var values []any
	for _, e := range spec.Types["command:remote:Logging"].Enum {
		values = append(values, e.Value)
	}
	if len(values) != 4 || values[0] != "stdout" || values[1] != "stderr" || values[2] != "stdoutAndStderr" || values[3] != "none" {
		t.Errorf("logging enum %v", values)
	}
}

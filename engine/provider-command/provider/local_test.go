package provider

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

func stringList(ss ...string) property.Value {
	vs := make([]property.Value, len(ss))
	for i, s := range ss {
		vs[i] = str(s)
	}
	return property.New(property.NewArray(vs))
}

func TestLocalCommandLifecycle(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "out", "sub"), 0o755))
	in := map[string]property.Value{
		"create": str(`echo create >> log; echo a > out/a.txt; echo b > out/sub/b.txt; echo s > out/secret.txt; echo made`),
		"update": str(`echo "update after $PULUMI_COMMAND_STDOUT" >> log`),
		"delete": str(`echo delete >> log`),
		"dir":    str(dir),
		// Globs as upstream documents them: `**` crosses directories, `!` removes.
		"assetPaths":   stringList("out/**", "!**secret.*"),
		"archivePaths": stringList("out/*.txt"),
	}
	r := f.mustCreate(localCommand, "l", inputs(in))
	assets := r.state.Get("assets").AsMap()
	var names []string
	for k := range assets.All {
		names = append(names, k)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "out/a.txt,out/sub/b.txt" {
		t.Errorf("assets %v", names)
	}
	if !r.state.Get("archive").IsArchive() {
		t.Errorf("archive %v", r.state.Get("archive"))
	}
	in["stdin"] = str("changed")
	must(t, f.update(r, inputs(in)))
	must(t, f.delete(r))
	if got := readString(t, filepath.Join(dir, "log")); got != "create\nupdate after made\ndelete\n" {
		t.Errorf("log %q", got)
	}
}

func TestLocalInterpreterAndFailure(t *testing.T) {
	f := newFixture(t)
	r := f.mustCreate(localCommand, "py", inputs(map[string]property.Value{
		"interpreter": stringList("/bin/bash", "-c"),
		"create":      str(`echo "${BASH_VERSION:+bash}"`),
	}))
	if stateString(t, r.state, "stdout") != "bash" {
		t.Errorf("interpreter not used: %v", r.state)
	}
	_, err := f.create(localCommand, "bad", inputs(map[string]property.Value{
		"create": str("echo nope >&2; exit 7"),
	}))
	if err == nil || !strings.Contains(err.Error(), `running "echo nope >&2; exit 7"`) ||
		!strings.Contains(err.Error(), "exit status 7") || !strings.Contains(err.Error(), "nope") {
		t.Errorf("failure message: %v", err)
	}
}

func TestLocalRunInvoke(t *testing.T) {
	f := newFixture(t)
	resp, err := f.srv.Invoke(p.InvokeRequest{Token: "command:local:run", Args: inputs(map[string]property.Value{
		"command": str("cat"),
		"stdin":   secret("invoke-secret-91c"),
	})})
	if err != nil || len(resp.Failures) > 0 {
		t.Fatalf("invoke: %v %v", err, resp.Failures)
	}
	out := resp.Return.Get("stdout")
	if out.AsString() != "invoke-secret-91c" || !out.Secret() {
		t.Errorf("stdout %v: want the secret stdin back, marked secret", out)
	}
}

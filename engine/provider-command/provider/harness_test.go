package provider

import (
	"bytes"
	"context"
	"log/slog"
	"os/exec"
	"strconv"
	"sync"
	"testing"

	"github.com/blang/semver"
	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/integration"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/archive"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/asset"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"novalab/engine/provider-command/internal/sshtest"
)

// The tests drive the provider the way the engine does (Check, Diff, Create, Update, Delete
// with wire-level property maps, secrets included) through pulumi-go-provider's in-process
// server, against real sshd processes.

const (
	remoteCommand = "command:remote:Command"
	localCommand  = "command:local:Command"
	copyToRemote  = "command:remote:CopyToRemote"
)

type fixture struct {
	t   *testing.T
	srv integration.Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	// Any version: the one a build reports is the installed SDK's, stamped by build.sh (not tested here).
	srv, err := integration.NewServer(context.Background(), Name, semver.MustParse("9.8.7"),
		integration.WithProvider(New()))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, srv: srv}
}

func urn(typ, name string) resource.URN {
	return resource.NewURN("test", "novalab", "", tokens.Type(typ), name)
}

// check runs Check as the engine does before create/update, failing the test on failures.
func (f *fixture) check(typ, name string, inputs property.Map) property.Map {
	f.t.Helper()
	resp, err := f.srv.Check(p.CheckRequest{Urn: urn(typ, name), Inputs: wire(f.t, inputs)})
	if err != nil {
		f.t.Fatalf("check: %v", err)
	}
	if len(resp.Failures) > 0 {
		f.t.Fatalf("check failures: %+v", resp.Failures)
	}
	return wire(f.t, resp.Inputs)
}

// wire sends m through the gRPC encoding the engine uses (the in-process server skips it, and
// assets only become assets again on the way back in).
func wire(t *testing.T, m property.Map) property.Map {
	t.Helper()
	opts := plugin.MarshalOptions{KeepUnknowns: true, SkipNulls: true, KeepResources: true, KeepSecrets: true, KeepOutputValues: true}
	s, err := plugin.MarshalProperties(resource.ToResourcePropertyMap(m), opts)
	if err != nil {
		t.Fatal(err)
	}
	back, err := plugin.UnmarshalProperties(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	return resource.FromResourcePropertyMap(back)
}

// resource is one created resource as the engine would hold it.
type testResource struct {
	typ, name, id string
	inputs, state property.Map
}

func (f *fixture) create(typ, name string, inputs property.Map) (*testResource, error) {
	f.t.Helper()
	checked := f.check(typ, name, inputs)
	resp, err := f.srv.Create(p.CreateRequest{Urn: urn(typ, name), Properties: checked})
	if err != nil {
		return nil, err
	}
	if resp.ID == "" {
		f.t.Fatalf("create of %s returned no id", name)
	}
	return &testResource{typ: typ, name: name, id: resp.ID, inputs: checked, state: wire(f.t, resp.Properties)}, nil
}

func (f *fixture) mustCreate(typ, name string, inputs property.Map) *testResource {
	f.t.Helper()
	r, err := f.create(typ, name, inputs)
	if err != nil {
		f.t.Fatalf("create %s: %v", name, err)
	}
	return r
}

func (f *fixture) preview(typ, name string, inputs property.Map) p.CreateResponse {
	f.t.Helper()
	resp, err := f.srv.Create(p.CreateRequest{Urn: urn(typ, name), Properties: f.check(typ, name, inputs), DryRun: true})
	if err != nil {
		f.t.Fatalf("preview create: %v", err)
	}
	return resp
}

func (f *fixture) diff(r *testResource, inputs property.Map) p.DiffResponse {
	f.t.Helper()
	checked := f.check(r.typ, r.name, inputs)
	resp, err := f.srv.Diff(p.DiffRequest{ID: r.id, Urn: urn(r.typ, r.name), State: r.state, Inputs: checked, OldInputs: r.inputs})
	if err != nil {
		f.t.Fatalf("diff: %v", err)
	}
	return resp
}

// update applies new inputs; on success r holds the new inputs and state.
func (f *fixture) update(r *testResource, inputs property.Map) error {
	f.t.Helper()
	checked := f.check(r.typ, r.name, inputs)
	resp, err := f.srv.Update(p.UpdateRequest{
		ID: r.id, Urn: urn(r.typ, r.name), State: r.state, Inputs: checked, OldInputs: r.inputs,
	})
	if err != nil {
		return err
	}
	r.inputs, r.state = checked, wire(f.t, resp.Properties)
	return nil
}

func (f *fixture) delete(r *testResource) error {
	f.t.Helper()
	return f.srv.Delete(p.DeleteRequest{ID: r.id, Urn: urn(r.typ, r.name), Properties: r.state, OldInputs: r.inputs})
}

// str is a plain string property; secret marks it the way a program's secret arrives.
func str(s string) property.Value    { return property.New(s) }
func secret(s string) property.Value { return property.New(s).WithSecret(true) }

func inputs(kv map[string]property.Value) property.Map { return property.NewMap(kv) }

// connection is the connection input as the SDK sends it: the whole object secret.
func connection(s *sshtest.Server, key sshtest.Key, extra map[string]property.Value) property.Value {
	m := map[string]property.Value{
		"host":       str(s.Host),
		"port":       property.New(float64(s.Port)),
		"privateKey": str(key.Private),
		"hostKey":    str(s.HostKey),
	}
	if key.Passphrase != "" {
		m["privateKeyPassword"] = str(key.Passphrase)
	}
	for k, v := range extra {
		m[k] = v
	}
	return property.New(property.NewMap(m)).WithSecret(true)
}

// logs captures what the provider logs (without an engine, pulumi-go-provider logs through
// slog's default logger).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func captureLogs(t *testing.T) *logBuffer {
	lb := &logBuffer{}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return lb
}

func stateString(t *testing.T, m property.Map, key string) string {
	t.Helper()
	v, ok := m.GetOk(key)
	if !ok || !v.IsString() {
		t.Fatalf("state has no string %q: %v", key, m)
	}
	return v.AsString()
}

func createRequest(f *fixture, typ, name string, in property.Map) p.CreateRequest {
	return p.CreateRequest{Urn: urn(typ, name), Properties: f.check(typ, name, in)}
}

func fileAssetValue(t *testing.T, path string) property.Value {
	a, err := asset.FromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	return property.New(a)
}

func textAssetValue(t *testing.T, text string) property.Value {
	a, err := asset.FromText(text)
	if err != nil {
		t.Fatal(err)
	}
	return property.New(a)
}

func archiveValue(t *testing.T, path string) property.Value {
	a, err := archive.FromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	return property.New(a)
}

func itoa(i int) string { return strconv.Itoa(i) }

func execCommand(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}

package provider

import (
	"crypto/ed25519"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"golang.org/x/crypto/ssh"

	"novalab/engine/provider-command/internal/sshtest"
)

// host is one sshd with the key that may log in to it.
type host struct {
	*sshtest.Server
	key sshtest.Key
}

func startHost(t *testing.T) host {
	sshtest.RequireSSHD(t)
	key := sshtest.NewKey(t, "")
	return host{sshtest.Start(t, sshtest.Options{ClientKey: key}), key}
}

func (h host) conn(extra map[string]property.Value) property.Value {
	return connection(h.Server, h.key, extra)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fingerprint(t *testing.T, authorizedKey string) string {
	t.Helper()
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(authorizedKey))
	if err != nil {
		t.Fatal(err)
	}
	return ssh.FingerprintSHA256(k)
}

func TestCreateRunsOnceAndRecordsOutput(t *testing.T) {
	h := startHost(t)
	f := newFixture(t)
	dir := t.TempDir()
	r := f.mustCreate(remoteCommand, "hello", inputs(map[string]property.Value{
		"connection": h.conn(nil),
		"create":     str("echo created >> " + dir + "/runs; echo out; echo err >&2"),
	}))
	if got := readString(t, dir+"/runs"); got != "created\n" {
		t.Errorf("create ran %q, want once", got)
	}
	if stateString(t, r.state, "stdout") != "out" || stateString(t, r.state, "stderr") != "err" {
		t.Errorf("outputs: %v", r.state)
	}
	if n := h.Logins(); n != 1 {
		t.Errorf("%d logins for one create", n)
	}
	if !r.state.Get("connection").Secret() {
		t.Error("connection is not secret in state")
	}
}

func TestPreviewRunsNothing(t *testing.T) {
	h := startHost(t)
	f := newFixture(t)
	marker := filepath.Join(t.TempDir(), "ran")
	f.preview(remoteCommand, "p", inputs(map[string]property.Value{
		"connection": h.conn(nil),
		"create":     str("touch " + marker),
	}))
	if exists(marker) || h.Logins() != 0 {
		t.Errorf("preview ran the command (marker %v, logins %d)", exists(marker), h.Logins())
	}
}

func TestHostKeyMismatchIsRefusedBeforeAnythingRuns(t *testing.T) {
	h := startHost(t)
	f := newFixture(t)
	marker := filepath.Join(t.TempDir(), "ran")
	wrong := sshtest.OtherHostKey(t)
	start := time.Now()
	_, err := f.create(remoteCommand, "pinned", inputs(map[string]property.Value{
		"connection": h.conn(map[string]property.Value{"hostKey": str(wrong)}),
		"create":     str("touch " + marker),
	}))
	if err == nil {
		t.Fatal("create succeeded against a host with another key")
	}
	msg := err.Error()
	for _, want := range []string{h.Addr(), "ssh-ed25519 " + fingerprint(t, wrong), "ssh-ed25519 " + fingerprint(t, h.HostKey), "mismatch"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %q", msg, want)
		}
	}
	if exists(marker) {
		t.Error("the command ran on a host whose key did not match")
	}
	if h.Logins() != 0 {
		t.Errorf("the provider logged in to a host whose key did not match:\n%s", h.Log())
	}
	// Not retried: a wrong key does not go away by asking again.
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("host key mismatch took %s: it was retried", d)
	}
}

func TestHostKeyOfMissingTypeIsRefused(t *testing.T) {
	h := startHost(t)
	f := newFixture(t)
	// The server has only an ed25519 key; pin an ECDSA one.
	path := filepath.Join(t.TempDir(), "k")
	if out, err := execCommand("ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", path); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	ecdsaKey := readString(t, path+".pub")
	_, err := f.create(remoteCommand, "pinned-ecdsa", inputs(map[string]property.Value{
		"connection": h.conn(map[string]property.Value{"hostKey": str(ecdsaKey)}),
		"create":     str("true"),
	}))
	if err == nil || !strings.Contains(err.Error(), "ecdsa-sha2-nistp256 "+fingerprint(t, ecdsaKey)) ||
		!strings.Contains(err.Error(), h.Addr()) {
		t.Fatalf("want a host key error naming the pinned ECDSA key and the host, got %v", err)
	}
}

func TestUnreachableHostFailsAfterDialLimitNamingHostPort(t *testing.T) {
	f := newFixture(t)
	key := sshtest.NewKey(t, "")
	port := sshtest.FreePort(t) // nothing listens there
	_, err := f.create(remoteCommand, "nowhere", inputs(map[string]property.Value{
		"connection": property.New(property.NewMap(map[string]property.Value{
			"host":           str("127.0.0.1"),
			"port":           property.New(float64(port)),
			"privateKey":     str(key.Private),
			"dialErrorLimit": property.New(2.0),
		})).WithSecret(true),
		"create": str("true"),
	}))
	if err == nil {
		t.Fatal("create succeeded against a closed port")
	}
	addr := "127.0.0.1:" + itoa(port)
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "after 3 failed attempts") {
		t.Errorf("error %q does not name %s and the 3 attempts (limit 2)", err, addr)
	}
}

func TestFailingCommandNamesCommandAndExitStatusAndRecordsNothing(t *testing.T) {
	h := startHost(t)
	f := newFixture(t)
	cmd := "echo first line; echo 'it broke' >&2; exit 3"
	resp, err := f.srv.Create(createRequest(f, remoteCommand, "fails", inputs(map[string]property.Value{
		"connection": h.conn(nil),
		"create":     str(cmd),
	})))
	if err == nil {
		t.Fatal("a failing command succeeded")
	}
	msg := err.Error()
	for _, want := range []string{`running "` + cmd + `"`, "status 3", "it broke", "first line", h.Addr()} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if resp.ID != "" || resp.Properties.Len() != 0 || resp.PartialState != nil {
		t.Errorf("a failed create recorded state: %+v", resp)
	}
}

func TestUpdateRunsUpdateElseCreate(t *testing.T) {
	h := startHost(t)
	f := newFixture(t)
	log := filepath.Join(t.TempDir(), "log")
	base := map[string]property.Value{
		"connection": h.conn(nil),
		"create":     str("echo create >> " + log),
		"update":     str("echo update >> " + log),
		"stdin":      str("one"),
	}
	r := f.mustCreate(remoteCommand, "u", inputs(base))

	base["stdin"] = str("two")
	d := f.diff(r, inputs(base))
	if !d.HasChanges || d.DetailedDiff["stdin"].Kind != "update" {
		t.Fatalf("a stdin change should be an update: %+v", d)
	}
	if err := f.update(r, inputs(base)); err != nil {
		t.Fatal(err)
	}
	delete(base, "update")
	base["stdin"] = str("three")
	if err := f.update(r, inputs(base)); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, log); got != "create\nupdate\ncreate\n" {
		t.Errorf("ran %q, want create, update, then create (no update command)", got)
	}
}

func TestUnchangedInputsAreNoChangeAndTriggersReplace(t *testing.T) {
	h := startHost(t)
	f := newFixture(t)
	in := map[string]property.Value{
		"connection": h.conn(nil),
		"create":     str("true"),
		"triggers":   property.New(property.NewArray([]property.Value{str("a")})),
	}
	r := f.mustCreate(remoteCommand, "t", inputs(in))
	logins := h.Logins()
	if d := f.diff(r, inputs(in)); d.HasChanges {
		t.Errorf("unchanged inputs diff as changed: %+v", d)
	}
	in["triggers"] = property.New(property.NewArray([]property.Value{str("b")}))
	d := f.diff(r, inputs(in))
	if !d.HasChanges || d.DetailedDiff["triggers[0]"].Kind != "update&replace" {
		t.Errorf("a triggers change must replace: %+v", d)
	}
	if d.DeleteBeforeReplace {
		t.Error("upstream replaces create-before-delete unless the program sets deleteBeforeReplace")
	}
	if h.Logins() != logins {
		t.Error("diff logged in to the host")
	}
}

func TestDeleteRunsWithLastOutputInEnvironment(t *testing.T) {
	h := startHost(t)
	f := newFixture(t)
	got := filepath.Join(t.TempDir(), "env")
	r := f.mustCreate(remoteCommand, "d", inputs(map[string]property.Value{
		"connection": h.conn(nil),
		"create":     str("echo made-it; echo warned >&2"),
		"delete":     str(`printf '%s|%s' "$PULUMI_COMMAND_STDOUT" "$PULUMI_COMMAND_STDERR" > ` + got),
	}))
	if err := f.delete(r); err != nil {
		t.Fatal(err)
	}
	if s := readString(t, got); s != "made-it|warned" {
		t.Errorf("delete saw %q", s)
	}

	// addPreviousOutputInEnv false: the variables are not set.
	r = f.mustCreate(remoteCommand, "d2", inputs(map[string]property.Value{
		"connection":             h.conn(nil),
		"create":                 str("echo made-it"),
		"delete":                 str(`printf '%s' "${PULUMI_COMMAND_STDOUT-unset}" > ` + got),
		"addPreviousOutputInEnv": property.New(false),
	}))
	must(t, f.delete(r))
	if s := readString(t, got); s != "unset" {
		t.Errorf("delete saw %q with addPreviousOutputInEnv false", s)
	}
}

func TestStdinAndEnvironmentDelivered(t *testing.T) {
	h := startHost(t)
	f := newFixture(t)
	r := f.mustCreate(remoteCommand, "s", inputs(map[string]property.Value{
		"connection":  h.conn(nil),
		"create":      str(`cat; printf '|%s' "$NOVALAB_GREETING"`),
		"stdin":       str("line one\nline two\n"),
		"environment": property.New(property.NewMap(map[string]property.Value{"NOVALAB_GREETING": str("hi")})),
	}))
	if got := stateString(t, r.state, "stdout"); got != "line one\nline two\n|hi" {
		t.Errorf("stdout %q", got)
	}
	// Without stdin the command sees end of input at once (it would hang otherwise).
	r = f.mustCreate(remoteCommand, "s2", inputs(map[string]property.Value{
		"connection": h.conn(nil),
		"create":     str("cat; echo done"),
	}))
	if got := stateString(t, r.state, "stdout"); got != "done" {
		t.Errorf("stdout %q", got)
	}
}

func TestPassphraseProtectedKey(t *testing.T) {
	sshtest.RequireSSHD(t)
	key := sshtest.NewKey(t, "correct horse")
	s := sshtest.Start(t, sshtest.Options{ClientKey: key})
	f := newFixture(t)
	r := f.mustCreate(remoteCommand, "k", inputs(map[string]property.Value{
		"connection": connection(s, key, nil),
		"create":     str("echo in"),
	}))
	if stateString(t, r.state, "stdout") != "in" {
		t.Errorf("state %v", r.state)
	}
	// Without the passphrase the key cannot be used, and the error says so.
	noPass := key
	noPass.Passphrase = ""
	_, err := f.create(remoteCommand, "k2", inputs(map[string]property.Value{
		"connection": connection(s, noPass, nil),
		"create":     str("true"),
	}))
	if err == nil || !strings.Contains(err.Error(), "privateKeyPassword") {
		t.Errorf("want an error asking for privateKeyPassword, got %v", err)
	}
}

func TestProxyJump(t *testing.T) {
	sshtest.RequireSSHD(t)
	key := sshtest.NewKey(t, "")
	// DEBUG1 on the jump host logs each forwarded connection with its target.
	jump := sshtest.Start(t, sshtest.Options{ClientKey: key, LogLevel: "DEBUG1"})
	target := sshtest.Start(t, sshtest.Options{ClientKey: key})
	f := newFixture(t)
	proxy := property.New(property.NewMap(map[string]property.Value{
		"host":       str(jump.Host),
		"port":       property.New(float64(jump.Port)),
		"privateKey": str(key.Private),
		"hostKey":    str(jump.HostKey),
	}))
	r := f.mustCreate(remoteCommand, "via", inputs(map[string]property.Value{
		"connection": connection(target, key, map[string]property.Value{"proxy": proxy}),
		"create":     str("echo through"),
	}))
	if stateString(t, r.state, "stdout") != "through" {
		t.Errorf("state %v", r.state)
	}
	if jump.Logins() != 1 || target.Logins() != 1 {
		t.Errorf("logins: jump %d, target %d", jump.Logins(), target.Logins())
	}
	forwarded := regexp.MustCompile(`direct_tcpip: .*target 127\.0\.0\.1 port ` + itoa(target.Port) + `\b`)
	if !forwarded.MatchString(jump.Log()) {
		t.Errorf("the jump host did not forward to %s:\n%s", target.Addr(), jump.Log())
	}

	// The target's pinned key is checked through the proxy too.
	marker := filepath.Join(t.TempDir(), "ran")
	_, err := f.create(remoteCommand, "via-wrong", inputs(map[string]property.Value{
		"connection": connection(target, key, map[string]property.Value{
			"proxy": proxy, "hostKey": str(sshtest.OtherHostKey(t)),
		}),
		"create": str("touch " + marker),
	}))
	if err == nil || !strings.Contains(err.Error(), "mismatch") || exists(marker) {
		t.Errorf("wrong target key through the proxy: err %v, ran %v", err, exists(marker))
	}
}

func TestSecretsNeverInErrorsLogsOrPlainState(t *testing.T) {
	h := startHost(t)
	f := newFixture(t)
	logs := captureLogs(t)
	const stdinSecret = "stdin-secret-4f9a2c"
	const envSecret = "env-secret-77d1e0"
	in := map[string]property.Value{
		"connection":  h.conn(nil),
		"create":      str(`cat; echo "$NOVALAB_TOKEN"; cat /dev/null >&2`),
		"stdin":       secret(stdinSecret),
		"environment": property.New(property.NewMap(map[string]property.Value{"NOVALAB_TOKEN": secret(envSecret)})),
	}
	r := f.mustCreate(remoteCommand, "sec", inputs(in))
	// The command echoed both secrets: stdout must be secret in state, the log masked.
	if !r.state.Get("stdout").Secret() || !r.state.Get("stdin").Secret() {
		t.Errorf("stdout/stdin not secret in state: %v", r.state)
	}
	// A failing run quotes its output: the secrets and the private key must be masked.
	in["create"] = str(`cat; echo "$NOVALAB_TOKEN"; echo "` + strings.Split(h.key.Private, "\n")[1] + `"; exit 1`)
	_, err := f.create(remoteCommand, "sec-fail", inputs(in))
	if err == nil {
		t.Fatal("want failure")
	}
	all := err.Error() + logs.String()
	for _, s := range []string{stdinSecret, envSecret, strings.Split(h.key.Private, "\n")[1]} {
		if strings.Contains(all, s) {
			t.Errorf("secret %q leaked into the error or logs:\n%s", s, all)
		}
	}
	if !strings.Contains(err.Error(), "[secret]") || !strings.Contains(logs.String(), "[secret]") {
		t.Errorf("expected masked output in the error and the log:\n%s", all)
	}
}

func TestLoggingModes(t *testing.T) {
	h := startHost(t)
	for mode, want := range map[string][2]bool{
		"stdout": {true, false}, "stderr": {false, true}, "stdoutAndStderr": {true, true}, "none": {false, false},
	} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t)
			logs := captureLogs(t)
			r := f.mustCreate(remoteCommand, "log-"+mode, inputs(map[string]property.Value{
				"connection": h.conn(nil),
				"create":     str("echo to-stdout-" + mode + "; echo to-stderr-" + mode + " >&2"),
				"logging":    str(mode),
			}))
			got := [2]bool{strings.Contains(logs.String(), "to-stdout-"+mode), strings.Contains(logs.String(), "to-stderr-"+mode)}
			if got != want {
				t.Errorf("logged (stdout, stderr) = %v, want %v\n%s", got, want, logs)
			}
			// Captured as outputs whatever is logged.
			if stateString(t, r.state, "stdout") != "to-stdout-"+mode {
				t.Errorf("stdout output %v", r.state)
			}
		})
	}
}

func TestCopyToRemote(t *testing.T) {
	h := startHost(t)
	f := newFixture(t)
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "tree", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(src, "tree", "sub", "run.sh"), []byte("#!/bin/sh\necho hi\n"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "file.txt"), []byte("file body"), 0o644))
	dest := t.TempDir()

	f.mustCreate(copyToRemote, "dir", inputs(map[string]property.Value{
		"connection": h.conn(nil),
		"source":     archiveValue(t, filepath.Join(src, "tree")),
		"remotePath": str(dest),
	}))
	info, err := os.Stat(filepath.Join(dest, "tree", "sub", "run.sh"))
	if err != nil || info.Mode().Perm() != 0o755 {
		t.Errorf("directory copy: %v %v", info, err)
	}
	f.mustCreate(copyToRemote, "file", inputs(map[string]property.Value{
		"connection": h.conn(nil),
		"source":     fileAssetValue(t, filepath.Join(src, "file.txt")),
		"remotePath": str(filepath.Join(dest, "new", "copied.txt")),
	}))
	if got := readString(t, filepath.Join(dest, "new", "copied.txt")); got != "file body" {
		t.Errorf("file copy %q", got)
	}
	f.mustCreate(copyToRemote, "text", inputs(map[string]property.Value{
		"connection": h.conn(nil),
		"source":     textAssetValue(t, "text body"),
		"remotePath": str(filepath.Join(dest, "text.txt")),
	}))
	if got := readString(t, filepath.Join(dest, "text.txt")); got != "text body" {
		t.Errorf("text copy %q", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestAgentAuth(t *testing.T) {
	h := startHost(t)
	if _, err := exec.LookPath("ssh-agent"); err != nil {
		t.Skip("no ssh-agent")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	must(t, agent.Start())
	t.Cleanup(func() { _ = agent.Process.Kill(); _ = agent.Wait() })
	keyFile := filepath.Join(dir, "id")
	must(t, os.WriteFile(keyFile, []byte(h.key.Private), 0o600))
	for i := 0; ; i++ {
		add := exec.Command("ssh-add", keyFile)
		add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
		out, err := add.CombinedOutput()
		if err == nil {
			break
		}
		if i > 50 {
			t.Fatalf("ssh-add: %v %s", err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	f := newFixture(t)
	conn := property.New(property.NewMap(map[string]property.Value{
		"host":            str(h.Host),
		"port":            property.New(float64(h.Port)),
		"hostKey":         str(h.HostKey),
		"agentSocketPath": str(sock),
	})).WithSecret(true)
	r := f.mustCreate(remoteCommand, "agent", inputs(map[string]property.Value{
		"connection": conn,
		"create":     str("echo via-agent"),
	}))
	if stateString(t, r.state, "stdout") != "via-agent" {
		t.Errorf("state %v", r.state)
	}
}

// TestPasswordAuth logs in with a password to a minimal in-process SSH server (a real sshd
// would need a system user with a password, which a test must not create).
func TestPasswordAuth(t *testing.T) {
	const password = "pw-only-for-this-test"
	addr, commands := passwordServer(t, password)
	f := newFixture(t)
	host, port, _ := strings.Cut(addr, ":")
	portNum, _ := strconv.Atoi(port)
	in := func(pw string) property.Map {
		return inputs(map[string]property.Value{
			"connection": property.New(property.NewMap(map[string]property.Value{
				"host": str(host), "port": property.New(float64(portNum)), "password": str(pw),
				"dialErrorLimit": property.New(0.0),
			})).WithSecret(true),
			"create": str("echo hello"),
		})
	}
	f.mustCreate(remoteCommand, "pw", in(password))
	if got := <-commands; got != "echo hello" {
		t.Errorf("server ran %q", got)
	}
	_, err := f.create(remoteCommand, "pw-wrong", in("not-the-password"))
	if err == nil || !strings.Contains(err.Error(), "unable to authenticate") || strings.Contains(err.Error(), "not-the-password") {
		t.Errorf("wrong password: %v", err)
	}
}

// passwordServer accepts one password, and for each exec request reports the command and
// exits 0. It returns its address and the commands it was asked to run.
func passwordServer(t *testing.T, password string) (string, <-chan string) {
	t.Helper()
	_, hostKey, err := ed25519.GenerateKey(nil)
	must(t, err)
	signer, err := ssh.NewSignerFromKey(hostKey)
	must(t, err)
	cfg := &ssh.ServerConfig{PasswordCallback: func(_ ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
		if string(pw) == password {
			return nil, nil
		}
		return nil, errors.New("wrong password")
	}}
	cfg.AddHostKey(signer)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { _ = l.Close() })
	commands := make(chan string, 10)
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go serveExec(conn, cfg, commands)
		}
	}()
	return l.Addr().String(), commands
}

func serveExec(conn net.Conn, cfg *ssh.ServerConfig, commands chan<- string) {
	defer conn.Close()
	_, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		ch, requests, err := nc.Accept()
		if err != nil {
			return
		}
		for req := range requests {
			if req.Type != "exec" {
				_ = req.Reply(false, nil)
				continue
			}
			var payload struct{ Command string }
			_ = ssh.Unmarshal(req.Payload, &payload)
			_ = req.Reply(true, nil)
			commands <- payload.Command
			_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
			_ = ch.Close()
		}
	}
}

func TestCommandsOnOneHostShareOneLogin(t *testing.T) {
	h := startHost(t)
	f := newFixture(t)
	runs := filepath.Join(t.TempDir(), "runs")
	for _, name := range []string{"first", "second", "third"} {
		f.mustCreate(remoteCommand, name, inputs(map[string]property.Value{
			"connection": h.conn(nil),
			"create":     str("echo " + name + " >> " + runs),
		}))
	}
	if got := readString(t, runs); got != "first\nsecond\nthird\n" {
		t.Errorf("the commands ran %q", got)
	}
	if n := h.Logins(); n != 1 {
		t.Errorf("%d logins for three commands on one host, want 1", n)
	}
	// Other settings for the same host (here a different dial limit) are another connection.
	f.mustCreate(remoteCommand, "other", inputs(map[string]property.Value{
		"connection": h.conn(map[string]property.Value{"dialErrorLimit": property.New(3.0)}),
		"create":     str("true"),
	}))
	if n := h.Logins(); n != 2 {
		t.Errorf("%d logins after a command with other connection settings, want 2", n)
	}
}

func TestCommandsBeyondTheServersSessionLimitGetAnotherConnection(t *testing.T) {
	sshtest.RequireSSHD(t)
	key := sshtest.NewKey(t, "")
	s := sshtest.Start(t, sshtest.Options{ClientKey: key, MaxSessions: 1})
	f := newFixture(t)
	dir := t.TempDir()
	errs := make(chan error, 3)
	for _, name := range []string{"a", "b", "c"} {
		go func() {
			_, err := f.create(remoteCommand, name, inputs(map[string]property.Value{
				"connection": connection(s, key, nil),
				"create":     str("sleep 1; touch " + filepath.Join(dir, name)),
			}))
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Errorf("a command failed: %v", err)
		}
	}
	for _, name := range []string{"a", "b", "c"} {
		if !exists(filepath.Join(dir, name)) {
			t.Errorf("command %s did not run", name)
		}
	}
	if n := s.Logins(); n != 3 {
		t.Errorf("%d logins for three commands at once on a server allowing one session per connection, want 3", n)
	}
}

func TestAConnectionTheHostDroppedIsReplacedBeforeTheNextCommand(t *testing.T) {
	h := startHost(t)
	f := newFixture(t)
	dir := t.TempDir()
	runs, sshdPid := filepath.Join(dir, "runs"), filepath.Join(dir, "sshd.pid")
	// The first command's sshd process (its parent) is killed just after the command ends: the
	// pooled connection is dead when the next command comes.
	f.mustCreate(remoteCommand, "drops", inputs(map[string]property.Value{
		"connection": h.conn(nil),
		"create": str("echo one >> " + runs + "; echo $PPID > " + sshdPid +
			"; (sleep 0.3; kill -9 $PPID) </dev/null >/dev/null 2>&1 &"),
	}))
	killed := "/proc/" + strings.TrimSpace(readString(t, sshdPid))
	for deadline := time.Now().Add(10 * time.Second); exists(killed); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the first command's sshd (%s) is still running", killed)
		}
	}
	f.mustCreate(remoteCommand, "after", inputs(map[string]property.Value{
		"connection": h.conn(nil),
		"create":     str("echo two >> " + runs),
	}))
	if got := readString(t, runs); got != "one\ntwo\n" {
		t.Errorf("the commands ran %q, want each once", got)
	}
	if n := h.Logins(); n != 2 {
		t.Errorf("%d logins, want 2 (the dropped connection replaced once)", n)
	}
}

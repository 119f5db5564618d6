// Package sshtest starts real OpenSSH servers on loopback for tests: a temp config, temp host
// key and a temp client key, so the provider is tested against the sshd it meets in the lab.
package sshtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SSHD is the server binary (Debian's openssh-server).
const SSHD = "/usr/sbin/sshd"

// Server is one running sshd.
type Server struct {
	Host    string
	Port    int
	HostKey string // public host key, authorized_keys format ("ssh-ed25519 AAAA...")
	dir     string
	logPath string
}

// Options tune a server.
type Options struct {
	ClientKey Key    // the key allowed to log in (as root)
	LogLevel  string // default VERBOSE (one "Accepted publickey" line per login)
	// MaxSessions is sshd's limit of sessions per connection; 0 leaves sshd's default (10).
	MaxSessions int
}

// Key is a client key pair.
type Key struct {
	Private    string // OpenSSH private key text
	Public     string // authorized_keys line
	Passphrase string
}

// RequireSSHD skips the test when a real sshd cannot run here.
func RequireSSHD(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(SSHD); err != nil {
		t.Skipf("no %s (apt-get install openssh-server): %v", SSHD, err)
	}
	if os.Geteuid() != 0 {
		t.Skip("sshd needs root to run (privilege separation and logging in as root)")
	}
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("no ssh-keygen")
	}
}

// NewKey makes an ed25519 key pair, encrypted when passphrase is not empty.
func NewKey(t testing.TB, passphrase string) Key {
	t.Helper()
	path := filepath.Join(t.TempDir(), "id_ed25519")
	run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "novalab-test", "-f", path)
	return Key{Private: readFile(t, path), Public: readFile(t, path+".pub"), Passphrase: passphrase}
}

// Start runs sshd on 127.0.0.1 at a free port until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	RequireSSHD(t)
	// sshd refuses to start without its privilege separation directory (made by the
	// service's start script, which nothing runs here).
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	hostKeyPath := filepath.Join(dir, "host_ed25519")
	run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "novalab-test-host", "-f", hostKeyPath)
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, []byte(opts.ClientKey.Public), 0o600); err != nil {
		t.Fatal(err)
	}
	level := opts.LogLevel
	if level == "" {
		level = "VERBOSE"
	}
	s := &Server{Host: "127.0.0.1", Port: FreePort(t), dir: dir, logPath: filepath.Join(dir, "sshd.log")}
	s.HostKey = strings.TrimSpace(readFile(t, hostKeyPath+".pub"))
	config := fmt.Sprintf(`ListenAddress %s:%d
HostKey %s
PidFile none
AuthorizedKeysFile %s
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AcceptEnv NOVALAB_* PULUMI_COMMAND_*
AllowTcpForwarding yes
Subsystem sftp internal-sftp
LogLevel %s
`, s.Host, s.Port, hostKeyPath, authorized, level)
	if opts.MaxSessions > 0 {
		config += fmt.Sprintf("MaxSessions %d\n", opts.MaxSessions)
	}
	cfgPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(SSHD, "-D", "-e", "-f", cfgPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logFile.Close()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
		if err == nil {
			_ = c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not listen on %s: %v\n%s", s.Addr(), err, s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Log is everything sshd logged so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// Logins counts successful logins (sshd logs one "Accepted publickey" per SSH connection).
func (s *Server) Logins() int { return strings.Count(s.Log(), "Accepted publickey") }

// FreePort returns a loopback TCP port nothing listens on (at the time of asking).
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// OtherHostKey is a valid host key that no server here has.
func OtherHostKey(t testing.TB) string {
	return strings.TrimSpace(NewKey(t, "").Public)
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

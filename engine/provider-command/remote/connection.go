package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Defaults of the SDK's ConnectionArgs; applied here too for callers that skip them.
const (
	defaultUser           = "root"
	defaultPort           = 22
	defaultDialErrorLimit = 10 // -1: unlimited
	defaultPerDialTimeout = 15 // seconds; 0: no limit
)

// Connection says how to reach a host over SSH (command:remote:Connection).
type Connection struct {
	hostAccess
	Proxy *ProxyConnection `pulumi:"proxy,optional"`
}

// ProxyConnection is the jump host a Connection goes through (command:remote:ProxyConnection).
type ProxyConnection struct {
	hostAccess
}

// hostAccess is what both kinds of connection have; the secret flags match the SDK's schema.
type hostAccess struct {
	User               *string  `pulumi:"user,optional"`
	Password           *string  `pulumi:"password,optional"           provider:"secret"`
	Host               string   `pulumi:"host"`
	Port               *float64 `pulumi:"port,optional"`
	PrivateKey         *string  `pulumi:"privateKey,optional"         provider:"secret"`
	PrivateKeyPassword *string  `pulumi:"privateKeyPassword,optional" provider:"secret"`
	AgentSocketPath    *string  `pulumi:"agentSocketPath,optional"`
	DialErrorLimit     *int     `pulumi:"dialErrorLimit,optional"`
	PerDialTimeout     *int     `pulumi:"perDialTimeout,optional"`
	HostKey            *string  `pulumi:"hostKey,optional"`
}

// Annotate documents Connection in the schema.
func (c *Connection) Annotate(a infer.Annotator) {
	a.Describe(&c, "How to reach a host over SSH.")
	describeAccess(a, &c.hostAccess, "the host")
	a.Describe(&c.Proxy, "A jump host to reach the host through.")
}

// Annotate documents ProxyConnection in the schema.
func (c *ProxyConnection) Annotate(a infer.Annotator) {
	a.Describe(&c, "How to reach a jump (bastion) host over SSH.")
	describeAccess(a, &c.hostAccess, "the jump host")
}

func describeAccess(a infer.Annotator, h *hostAccess, who string) {
	a.Describe(&h.Host, "Address of "+who+".")
	a.Describe(&h.Port, "SSH port of "+who+".")
	a.SetDefault(&h.Port, defaultPort)
	a.Describe(&h.User, "User to log in as.")
	a.SetDefault(&h.User, defaultUser)
	a.Describe(&h.Password, "Password to log in with.")
	a.Describe(&h.PrivateKey, "Private key (PEM or OpenSSH text) to log in with; tried before the password.")
	a.Describe(&h.PrivateKeyPassword, "Passphrase of an encrypted privateKey.")
	a.Describe(&h.AgentSocketPath, "SSH agent socket; defaults to $SSH_AUTH_SOCK.")
	a.Describe(&h.DialErrorLimit, "Failed connection attempts allowed before giving up; -1 for no limit.")
	a.SetDefault(&h.DialErrorLimit, defaultDialErrorLimit)
	a.Describe(&h.PerDialTimeout, "Seconds one connection attempt (TCP and SSH handshake) may take; 0 for no limit.")
	a.SetDefault(&h.PerDialTimeout, defaultPerDialTimeout)
	a.Describe(&h.HostKey, "The host's public key (`ssh-ed25519 AAAA...`). When set, any other key is refused "+
		"before a command runs; when unset, the key is not checked.")
}

func (h *hostAccess) address() string {
	port := defaultPort
	if h.Port != nil {
		port = int(*h.Port)
	}
	return net.JoinHostPort(h.Host, strconv.Itoa(port))
}

func (h *hostAccess) user() string {
	if h.User != nil {
		return *h.User
	}
	return defaultUser
}

func (h *hostAccess) dialErrorLimit() int {
	if h.DialErrorLimit != nil {
		return *h.DialErrorLimit
	}
	return defaultDialErrorLimit
}

func (h *hostAccess) perDialTimeout() time.Duration {
	if h.PerDialTimeout != nil {
		return time.Duration(*h.PerDialTimeout) * time.Second
	}
	return defaultPerDialTimeout * time.Second
}

// HostKeyError means the host did not present the pinned key. It is never retried: a
// different key does not go away by asking again, and the point is to run nothing there.
type HostKeyError struct {
	Address  string
	Expected ssh.PublicKey
	Offered  ssh.PublicKey // nil when the host has no key of the expected type
	Detail   string
}

func (e *HostKeyError) Error() string {
	offered := "no key of that type"
	if e.Offered != nil {
		offered = describeKey(e.Offered)
	}
	msg := fmt.Sprintf("host key mismatch for %s: expected %s, host offered %s; refusing to connect",
		e.Address, describeKey(e.Expected), offered)
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg
}

func describeKey(k ssh.PublicKey) string {
	return k.Type() + " " + ssh.FingerprintSHA256(k)
}

// clientConfig builds the SSH client settings: host key policy and auth methods.
// The returned closer releases the agent socket; the handshake needs it, nothing after does.
func (h *hostAccess) clientConfig(ctx context.Context) (*ssh.ClientConfig, ssh.PublicKey, io.Closer, error) {
	cfg := &ssh.ClientConfig{User: h.user()}
	var pinned ssh.PublicKey
	if h.HostKey != nil && strings.TrimSpace(*h.HostKey) != "" {
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(*h.HostKey))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("hostKey of %s is not a public key (want `ssh-ed25519 AAAA...`): %w", h.Host, err)
		}
		pinned = key
		addr := h.address()
		cfg.HostKeyCallback = func(_ string, _ net.Addr, offered ssh.PublicKey) error {
			if string(offered.Marshal()) == string(key.Marshal()) {
				return nil
			}
			return &HostKeyError{Address: addr, Expected: key, Offered: offered}
		}
		// Ask only for the pinned key's type: a host with several keys would otherwise offer
		// its preferred one, which is "wrong" without being a different host.
		cfg.HostKeyAlgorithms = hostKeyAlgorithms(key.Type())
	} else {
		cfg.HostKeyCallback = ssh.InsecureIgnoreHostKey() //nolint:gosec // upstream's documented behaviour without hostKey
	}

	// One publickey method for the key and the agent's keys together: the ssh package tries
	// each method name once, so two publickey methods would never reach the second.
	var signers []ssh.Signer
	if h.PrivateKey != nil && *h.PrivateKey != "" {
		signer, err := parsePrivateKey(*h.PrivateKey, h.PrivateKeyPassword)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("privateKey for %s: %w", h.Host, err)
		}
		signers = append(signers, signer)
	}
	agentSigners, agentConn, err := h.agentSigners(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(signers) > 0 || agentSigners != nil {
		cfg.Auth = append(cfg.Auth, ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
			all := signers
			if agentSigners != nil {
				more, err := agentSigners()
				if err != nil {
					p.GetLogger(ctx).Debugf("ssh agent: %v", err)
				}
				all = append(append([]ssh.Signer(nil), signers...), more...)
			}
			return all, nil
		}))
	}
	if h.Password != nil && *h.Password != "" {
		pw := *h.Password
		cfg.Auth = append(cfg.Auth, ssh.Password(pw),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = pw
				}
				return answers, nil
			}))
	}
	if len(cfg.Auth) == 0 {
		return nil, nil, nil, fmt.Errorf("no way to log in to %s: set privateKey, password, or agentSocketPath (or SSH_AUTH_SOCK)", h.Host)
	}
	return cfg, pinned, agentConn, nil
}

func hostKeyAlgorithms(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		// An RSA key signs with SHA-2 on current servers; "ssh-rsa" (SHA-1) alone is refused.
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

func parsePrivateKey(pem string, passphrase *string) (ssh.Signer, error) {
	if passphrase != nil && *passphrase != "" {
		return ssh.ParsePrivateKeyWithPassphrase([]byte(pem), []byte(*passphrase))
	}
	signer, err := ssh.ParsePrivateKey([]byte(pem))
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, errors.New("the key is encrypted: set privateKeyPassword")
	}
	return signer, err
}

// agentSigners returns the agent's key lister, or nil when no agent is configured. An agent
// named explicitly must be reachable; one only inherited from SSH_AUTH_SOCK is optional, so a
// stale variable does not break connections that log in with a key.
func (h *hostAccess) agentSigners(ctx context.Context) (func() ([]ssh.Signer, error), io.Closer, error) {
	path, explicit := "", false
	if h.AgentSocketPath != nil && *h.AgentSocketPath != "" {
		path, explicit = *h.AgentSocketPath, true
	} else {
		path = os.Getenv("SSH_AUTH_SOCK")
	}
	if path == "" {
		return nil, nopCloser{}, nil
	}
	conn, err := net.Dial("unix", path)
	if err != nil {
		if explicit {
			return nil, nil, fmt.Errorf("ssh agent at %s: %w", path, err)
		}
		p.GetLogger(ctx).Debugf("ignoring SSH_AUTH_SOCK: %v", err)
		return nil, nopCloser{}, nil
	}
	return agent.NewClient(conn).Signers, conn, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// Client is an SSH connection to the target, through the jump host when there is one.
type Client struct {
	*ssh.Client
	jump *ssh.Client
}

// Close closes the target connection and then the jump host's.
func (c *Client) Close() error {
	err := c.Client.Close()
	if c.jump != nil {
		err = errors.Join(err, c.jump.Close())
	}
	return err
}

// Dial connects to the host (through the proxy, if any), retrying failed attempts with
// backoff up to dialErrorLimit. A host key mismatch fails at once.
func (c *Connection) Dial(ctx context.Context) (*Client, error) {
	target, err := c.hostAccess.target(ctx)
	if err != nil {
		return nil, err
	}
	defer target.agent.Close()
	if c.Proxy == nil {
		client, err := retry(ctx, target.addr, c.dialErrorLimit(), func() (*ssh.Client, error) {
			return target.dial(ctx, nil)
		})
		if err != nil {
			return nil, err
		}
		return &Client{Client: client}, nil
	}

	hop, err := c.Proxy.target(ctx)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	defer hop.agent.Close()
	jump, err := retry(ctx, hop.addr, c.Proxy.dialErrorLimit(), func() (*ssh.Client, error) {
		return hop.dial(ctx, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	client, err := retry(ctx, target.addr, c.dialErrorLimit(), func() (*ssh.Client, error) {
		return target.dial(ctx, jump)
	})
	if err != nil {
		_ = jump.Close()
		return nil, fmt.Errorf("via proxy %s: %w", hop.addr, err)
	}
	return &Client{Client: client, jump: jump}, nil
}

// sshTarget is one host to dial, with everything settled before the first attempt.
type sshTarget struct {
	addr    string
	cfg     *ssh.ClientConfig
	pinned  ssh.PublicKey // nil: host key not checked
	timeout time.Duration
	agent   io.Closer
}

func (h *hostAccess) target(ctx context.Context) (*sshTarget, error) {
	cfg, pinned, agentConn, err := h.clientConfig(ctx)
	if err != nil {
		return nil, err
	}
	return &sshTarget{addr: h.address(), cfg: cfg, pinned: pinned, timeout: h.perDialTimeout(), agent: agentConn}, nil
}

// dial makes one attempt: TCP (directly, or from the jump host) and the SSH handshake, both
// within the per-dial timeout. ssh.ClientConfig.Timeout covers only the TCP part, and a host
// that accepts but never speaks SSH would otherwise hang the attempt.
func (t *sshTarget) dial(ctx context.Context, jump *ssh.Client) (*ssh.Client, error) {
	attemptCtx := ctx
	if t.timeout > 0 {
		var cancel context.CancelFunc
		attemptCtx, cancel = context.WithTimeout(ctx, t.timeout)
		defer cancel()
	}
	var conn net.Conn
	var err error
	if jump != nil {
		conn, err = jump.DialContext(attemptCtx, "tcp", t.addr)
	} else {
		conn, err = (&net.Dialer{}).DialContext(attemptCtx, "tcp", t.addr)
	}
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(attemptCtx, func() { _ = conn.Close() }) // ends a stuck handshake
	sshConn, chans, reqs, err := ssh.NewClientConn(conn, t.addr, t.cfg)
	if !stop() {
		if err == nil {
			_ = sshConn.Close()
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("ssh handshake with %s: no answer within %s", t.addr, t.timeout)
	}
	if err != nil {
		_ = conn.Close()
		var hk *HostKeyError
		if errors.As(err, &hk) {
			return nil, hk
		}
		if t.pinned != nil && strings.Contains(err.Error(), "no common algorithm for host key") {
			// The host has no key of the pinned type at all: a mismatch too.
			return nil, &HostKeyError{Address: t.addr, Expected: t.pinned, Detail: err.Error()}
		}
		return nil, err
	}
	return ssh.NewClient(sshConn, chans, reqs), nil
}

// retry runs attempt until it succeeds, fails more than limit times (limit < 0: never gives
// up), or fails with a host key error. Delays grow from 100 ms by half each time up to 5 s,
// as upstream's, so the default limit gives a booting host about 11 s.
func retry(ctx context.Context, addr string, limit int, attempt func() (*ssh.Client, error)) (*ssh.Client, error) {
	const maxDelay = 5 * time.Second
	delay := 100 * time.Millisecond
	for failures := 1; ; failures++ {
		client, err := attempt()
		if err == nil {
			return client, nil
		}
		var hk *HostKeyError
		if errors.As(err, &hk) || ctx.Err() != nil {
			return nil, err
		}
		if limit >= 0 && failures > limit {
			return nil, fmt.Errorf("unable to connect to %s after %d failed attempts (dialErrorLimit %d): %w",
				addr, failures, limit, err)
		}
		p.GetLogger(ctx).InfoStatusf("connecting to %s: attempt %d failed (%v), retrying in %s",
			addr, failures, err, delay.Round(time.Millisecond))
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, fmt.Errorf("connecting to %s: %w (last error: %v)", addr, ctx.Err(), err)
		}
		delay = min(delay*3/2, maxDelay)
	}
}

package remote

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Pool shares SSH connections between the commands a provider runs: every command on one host
// with the same connection settings (credentials, host key, proxy) opens its own session on one
// connection, so a host is logged into once per `pulumi up` instead of once per command, as
// OpenSSH's ControlMaster and Ansible's ssh connection plugin do
// (https://docs.ansible.com/ansible/latest/collections/ansible/builtin/ssh_connection.html).
// Connections live as long as the provider process, which the engine ends with the operation.
//
// A connection the server stopped answering is replaced before a command starts on it, never
// after: a command that began is not run again. When sshd refuses another session on a
// connection (its MaxSessions, 10 by default), that connection's limit is remembered and the
// next command gets a connection of its own.
type Pool struct {
	mu    sync.Mutex
	hosts map[string]*hostConns
}

// NewPool returns an empty pool.
func NewPool() *Pool { return &Pool{hosts: map[string]*hostConns{}} }

// hostConns are the connections to one host with one set of settings. dialing is held while
// a connection is dialed, so that commands starting together share the new connection instead
// of each logging in.
type hostConns struct {
	dialing sync.Mutex
	conns   []*sharedConn // guarded by Pool.mu
}

type sharedConn struct {
	host     *hostConns // the pool entry it belongs to
	client   *Client
	sessions int // open now
	limit    int // sessions the server allows at once; 0 until it refused one
}

// Session is one command's session on a shared connection; Close ends the session only.
type Session struct {
	*ssh.Session
	pool *Pool
	conn *sharedConn
	once sync.Once
}

// Close closes the session and gives its place on the connection back.
func (s *Session) Close() {
	_ = s.Session.Close() // io.EOF once the command has ended: nothing to close then
	s.once.Do(func() {
		s.pool.mu.Lock()
		s.conn.sessions--
		s.pool.mu.Unlock()
	})
}

// Abandon ends the session's connection (a cancelled command whose session would not close)
// and forgets it, so that no later command uses it.
func (s *Session) Abandon() {
	s.pool.drop(s.conn)
}

// Session opens a session to c's host, on a connection the pool already has when one has room,
// else on a new one (Dial: its retries, limits and host key check).
func (p *Pool) Session(ctx context.Context, c *Connection) (*Session, error) {
	key, err := c.poolKey()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	host := p.hosts[key]
	if host == nil {
		host = &hostConns{}
		p.hosts[key] = host
	}
	p.mu.Unlock()

	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		conn, fresh := p.reserve(host), false
		if conn == nil {
			var err error
			if conn, fresh, err = p.dial(ctx, c, host); err != nil {
				return nil, err
			}
		}
		session, err := openSession(conn.client, c.perDialTimeout())
		if err == nil {
			return &Session{Session: session, pool: p, conn: conn}, nil
		}
		var refused *ssh.OpenChannelError
		isRefused := errors.As(err, &refused)
		p.mu.Lock()
		conn.sessions--
		atLimit := isRefused && conn.sessions > 0
		if atLimit {
			// The server's limit of sessions per connection: this one stays for the others.
			conn.limit = conn.sessions
		}
		p.mu.Unlock()
		switch {
		case atLimit:
			continue
		case isRefused: // refused with no other session open: not a limit, the server says no
			return nil, fmt.Errorf("opening a session on %s: %w", c.address(), err)
		}
		p.drop(conn)
		if fresh { // a connection just made that cannot open a session: dialing again won't help
			return nil, fmt.Errorf("opening a session on %s: %w", c.address(), err)
		}
		// The connection is gone (the host rebooted, or stopped answering): no command started
		// on it, so a new connection is safe.
	}
}

// reserve takes a place on a connection with room, or returns nil.
func (p *Pool) reserve(host *hostConns) *sharedConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, conn := range host.conns {
		if conn.limit == 0 || conn.sessions < conn.limit {
			conn.sessions++
			return conn
		}
	}
	return nil
}

// dial logs in once for every command waiting on this host: whoever waited for another's dial
// takes a place on that connection when it has room.
// fresh says the connection is the one just dialed.
func (p *Pool) dial(ctx context.Context, c *Connection, host *hostConns) (conn *sharedConn, fresh bool, err error) {
	host.dialing.Lock()
	defer host.dialing.Unlock()
	if conn := p.reserve(host); conn != nil {
		return conn, false, nil
	}
	client, err := c.Dial(ctx)
	if err != nil {
		return nil, false, err
	}
	conn = &sharedConn{host: host, client: client, sessions: 1}
	p.mu.Lock()
	host.conns = append(host.conns, conn)
	p.mu.Unlock()
	return conn, true, nil
}

// drop closes the connection and forgets it.
func (p *Pool) drop(conn *sharedConn) {
	p.mu.Lock()
	conn.host.conns = slices.DeleteFunc(conn.host.conns, func(c *sharedConn) bool { return c == conn })
	p.mu.Unlock()
	_ = conn.client.Close()
}

// openSession opens a session, giving up after timeout (0: none): a connection whose host
// vanished without closing it would otherwise wait for ever.
func openSession(client *Client, timeout time.Duration) (*ssh.Session, error) {
	if timeout <= 0 {
		return client.NewSession()
	}
	type result struct {
		session *ssh.Session
		err     error
	}
	done := make(chan result, 1)
	go func() {
		s, err := client.NewSession()
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		return r.session, r.err
	case <-time.After(timeout):
		_ = client.Close() // ends the NewSession above; the caller drops the connection
		return nil, fmt.Errorf("no answer to a new session within %s", timeout)
	}
}

// poolKey identifies the connection settings. It is a digest: the settings hold the secrets
// (key, passwords), which stay in the request they came with.
func (c *Connection) poolKey() (string, error) {
	settings, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(settings)
	return fmt.Sprintf("%x", sum), nil
}

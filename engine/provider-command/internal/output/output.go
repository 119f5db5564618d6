// Package output captures a command's stdout and stderr for the resource outputs, streams
// the chosen streams to the engine log line by line, and keeps the tail of both for the
// error message when the command fails. Shared by local and remote commands.
package output

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	p "github.com/pulumi/pulumi-go-provider"

	"novalab/engine/provider-command/internal/redact"
)

// Environment variables that carry the previous run's output into the next command
// (upstream's names: programs written for pulumi-command read them).
const (
	EnvStdout = "PULUMI_COMMAND_STDOUT"
	EnvStderr = "PULUMI_COMMAND_STDERR"
)

// tailBytes bounds the output quoted in a failure: enough to show the error a script
// printed, not a whole apt-get log.
const tailBytes = 4096

// Capture collects one run's output. Its writers may be used from two goroutines
// (ssh and os/exec copy stdout and stderr concurrently).
type Capture struct {
	stdout, stderr bytes.Buffer
	mu             sync.Mutex
	combined       []byte // both streams interleaved as they arrived, trimmed to about tailBytes
	outLog, errLog *lineLogger
}

// NewCapture returns a Capture that streams stdout and/or stderr to the engine log.
func NewCapture(ctx context.Context, logStdout, logStderr bool) *Capture {
	c := &Capture{}
	if logStdout {
		c.outLog = &lineLogger{ctx: ctx}
	}
	if logStderr {
		c.errLog = &lineLogger{ctx: ctx}
	}
	return c
}

// Stdout is the writer for the command's standard output.
func (c *Capture) Stdout() io.Writer { return streamWriter{c, &c.stdout, c.outLog} }

// Stderr is the writer for the command's standard error.
func (c *Capture) Stderr() io.Writer { return streamWriter{c, &c.stderr, c.errLog} }

// Finish logs any last line without a newline.
func (c *Capture) Finish() {
	c.outLog.flush()
	c.errLog.flush()
}

// Outputs returns stdout and stderr as upstream records them: one trailing newline dropped.
func (c *Capture) Outputs() (stdout, stderr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.TrimSuffix(c.stdout.String(), "\n"), strings.TrimSuffix(c.stderr.String(), "\n")
}

// Tail returns the last few KB of both streams, starting at a line boundary.
func (c *Capture) Tail() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.combined
	if len(t) > tailBytes {
		t = t[len(t)-tailBytes:]
		if i := bytes.IndexByte(t, '\n'); i >= 0 {
			t = t[i+1:]
		}
		return "...\n" + string(t)
	}
	return string(t)
}

type streamWriter struct {
	c   *Capture
	buf *bytes.Buffer
	log *lineLogger
}

func (w streamWriter) Write(b []byte) (int, error) {
	w.c.mu.Lock()
	w.buf.Write(b)
	w.c.combined = append(w.c.combined, b...)
	if len(w.c.combined) > 2*tailBytes { // amortised trim
		w.c.combined = append([]byte(nil), w.c.combined[len(w.c.combined)-tailBytes:]...)
	}
	w.c.mu.Unlock()
	w.log.write(b) // one lineLogger per stream, and each stream has one writer goroutine
	return len(b), nil
}

// lineLogger sends complete lines to the engine as status messages (upstream does the same:
// they show while the resource runs), with secrets masked.
type lineLogger struct {
	ctx     context.Context
	partial []byte
}

func (l *lineLogger) write(b []byte) {
	if l == nil {
		return
	}
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return
		}
		l.emit(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
}

func (l *lineLogger) flush() {
	if l != nil && len(l.partial) > 0 {
		l.emit(string(l.partial))
		l.partial = nil
	}
}

func (l *lineLogger) emit(line string) {
	p.GetLogger(l.ctx).InfoStatus(redact.From(l.ctx).String(strings.TrimSuffix(line, "\r")))
}

// maxShownCommand: novalab's commands are whole scripts (`bash -c '<script>' name args`);
// quoting all of it would bury the output tail, so long commands show their start and end
// (the end holds the script name and arguments).
const maxShownCommand = 240

// Failure is the error for a command that ran and failed: what ran, how it ended, and the
// last of its output, as upstream words it (`<exit status>: running "<cmd>":\n<output>`).
func Failure(err error, command, tail string) error {
	return fmt.Errorf("%w: running %q:\n%s", err, ShortCommand(command), tail)
}

// ShortCommand abbreviates a long command for messages.
func ShortCommand(command string) string {
	if len(command) <= maxShownCommand {
		return command
	}
	const keep = maxShownCommand / 2
	return fmt.Sprintf("%s ...[%d bytes]... %s", command[:keep], len(command)-2*keep, command[len(command)-keep:])
}

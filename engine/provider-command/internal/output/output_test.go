package output

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestCaptureKeepsStreamsAndATailFromALineStart(t *testing.T) {
	c := NewCapture(context.Background(), false, false)
	fmt.Fprintln(c.Stdout(), "out")
	fmt.Fprintln(c.Stderr(), "err")
	for i := range 2000 {
		fmt.Fprintf(c.Stdout(), "line %d\n", i)
	}
	fmt.Fprint(c.Stderr(), "the real error")
	c.Finish()
	stdout, stderr := c.Outputs()
	if !strings.HasPrefix(stdout, "out\nline 0\n") || strings.HasSuffix(stdout, "\n") || stderr != "err\nthe real error" {
		t.Errorf("outputs %q... %q", stdout[:20], stderr)
	}
	tail := c.Tail()
	if len(tail) > tailBytes+10 || !strings.HasPrefix(tail, "...\nline ") || !strings.HasSuffix(tail, "line 1999\nthe real error") {
		t.Errorf("tail (%d bytes) %q...%q", len(tail), tail[:20], tail[len(tail)-30:])
	}
}

func TestFailureQuotesShortCommandsWholeAndLongOnesByBothEnds(t *testing.T) {
	err := Failure(errors.New("exit status 2"), "false", "boom")
	if err.Error() != "exit status 2: running \"false\":\nboom" {
		t.Errorf("%q", err)
	}
	long := "bash -c '" + strings.Repeat("x", 5000) + "' install_packages.sh nova-compute-qemu"
	msg := Failure(errors.New("exit status 1"), long, "").Error()
	if len(msg) > 400 || !strings.Contains(msg, "bash -c 'xxx") || !strings.Contains(msg, "install_packages.sh nova-compute-qemu") {
		t.Errorf("%q", msg)
	}
}

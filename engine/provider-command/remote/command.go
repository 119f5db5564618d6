// Package remote implements the command:remote:* resources: commands and file copies over SSH.
package remote

import (
	"context"
	"fmt"
	"strings"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"novalab/engine/provider-command/internal/lifecycle"
	"novalab/engine/provider-command/internal/output"
)

// Command runs a shell command on a host over SSH at create, update and delete
// (command:remote:Command).
type Command struct {
	connections *Pool
}

// NewCommand returns the resource, running its commands over the pool's connections.
func NewCommand(connections *Pool) *Command { return &Command{connections: connections} }

// Annotate documents the resource.
func (c *Command) Annotate(a infer.Annotator) {
	a.Describe(&c, "A command run on a remote host over SSH when the resource is created, "+
		"updated or deleted. Nothing runs during preview, nor while the inputs are unchanged.")
}

// CommandInputs are the resource's inputs.
type CommandInputs struct {
	lifecycle.Inputs
	Connection             *Connection       `pulumi:"connection"                      provider:"secret"`
	Environment            map[string]string `pulumi:"environment,optional"`
	Stdin                  *string           `pulumi:"stdin,optional"`
	Logging                *Logging          `pulumi:"logging,optional"`
	AddPreviousOutputInEnv *bool             `pulumi:"addPreviousOutputInEnv,optional"`
}

// Annotate documents the inputs.
func (c *CommandInputs) Annotate(a infer.Annotator) {
	a.Describe(&c.Connection, "How to reach the host.")
	a.Describe(&c.Environment, "Environment variables for the command; the host's sshd must accept "+
		"them (AcceptEnv).")
	a.Describe(&c.Stdin, "Text passed to the command on standard input (not sent when empty).")
	a.Describe(&c.Logging, "Which output streams are logged while the command runs (both by default); "+
		"stdout and stderr are captured as outputs either way.")
	a.Describe(&c.AddPreviousOutputInEnv, "Pass the previous run's stdout and stderr as "+
		"PULUMI_COMMAND_STDOUT / PULUMI_COMMAND_STDERR (default true).")
}

// CommandOutputs is the resource's state: its inputs and the last run's output.
type CommandOutputs struct {
	CommandInputs
	Stdout string `pulumi:"stdout"`
	Stderr string `pulumi:"stderr"`
}

// Annotate documents the outputs.
func (c *CommandOutputs) Annotate(a infer.Annotator) {
	a.Describe(&c.Stdout, "Standard output of the last create or update.")
	a.Describe(&c.Stderr, "Standard error of the last create or update.")
}

var (
	_ infer.CustomResource[CommandInputs, CommandOutputs] = (*Command)(nil)
	_ infer.CustomUpdate[CommandInputs, CommandOutputs]   = (*Command)(nil)
	_ infer.CustomDelete[CommandOutputs]                  = (*Command)(nil)
)

// Create runs `create`. A failure returns no ID, so the engine records nothing and the next
// `up` tries again.
func (c *Command) Create(ctx context.Context, req infer.CreateRequest[CommandInputs]) (infer.CreateResponse[CommandOutputs], error) {
	state := CommandOutputs{CommandInputs: req.Inputs}
	id, err := resource.NewUniqueHex(req.Name, 8, 0)
	if err != nil || req.DryRun || req.Inputs.Create == nil {
		return infer.CreateResponse[CommandOutputs]{ID: id, Output: state}, err
	}
	if err := state.run(ctx, c.connections, *req.Inputs.Create); err != nil {
		return infer.CreateResponse[CommandOutputs]{}, err
	}
	return infer.CreateResponse[CommandOutputs]{ID: id, Output: state}, nil
}

// Update runs `update`, else `create`, for any change but `triggers` (those replace).
func (c *Command) Update(ctx context.Context, req infer.UpdateRequest[CommandInputs, CommandOutputs]) (infer.UpdateResponse[CommandOutputs], error) {
	state := CommandOutputs{CommandInputs: req.Inputs, Stdout: req.State.Stdout, Stderr: req.State.Stderr}
	cmd := req.Inputs.UpdateCommand()
	if req.DryRun || cmd == nil {
		return infer.UpdateResponse[CommandOutputs]{Output: state}, nil
	}
	err := state.run(ctx, c.connections, *cmd)
	return infer.UpdateResponse[CommandOutputs]{Output: state}, err
}

// Delete runs `delete` with the last run's output in its environment.
func (c *Command) Delete(ctx context.Context, req infer.DeleteRequest[CommandOutputs]) (infer.DeleteResponse, error) {
	state := req.State
	if state.Delete == nil {
		return infer.DeleteResponse{}, nil
	}
	return infer.DeleteResponse{}, state.run(ctx, c.connections, *state.Delete)
}

// run executes cmd in one SSH session, on a connection from the pool, and, on success,
// records its output in c.
func (c *CommandOutputs) run(ctx context.Context, connections *Pool, cmd string) error {
	if c.Connection == nil {
		return fmt.Errorf("connection is required")
	}
	session, err := connections.Session(ctx, c.Connection)
	if err != nil {
		return err
	}
	defer session.Close()

	for name, value := range c.Environment {
		if err := session.Setenv(name, value); err != nil {
			return fmt.Errorf("setting environment variable %s on %s (the host's sshd must list it in AcceptEnv): %w",
				name, c.Connection.address(), err)
		}
	}
	if c.AddPreviousOutputInEnv == nil || *c.AddPreviousOutputInEnv {
		// Best effort, as upstream: many sshd configs refuse unknown variables.
		for name, value := range map[string]string{output.EnvStdout: c.Stdout, output.EnvStderr: c.Stderr} {
			if value == "" {
				continue
			}
			if err := session.Setenv(name, value); err != nil {
				p.GetLogger(ctx).Warningf("%s not passed to the command: the host's sshd refused it "+
					"(add it to AcceptEnv): %v", name, err)
			}
		}
	}
	if c.Stdin != nil && *c.Stdin != "" {
		session.Stdin = strings.NewReader(*c.Stdin)
	}

	logStdout, logStderr := c.Logging.streams()
	capture := output.NewCapture(ctx, logStdout, logStderr)
	session.Stdout = capture.Stdout()
	session.Stderr = capture.Stderr()
	// A cancelled operation (Ctrl-C, engine timeout) ends the connection instead of waiting:
	// closing the session alone waits for an answer from a host that may give none.
	stop := context.AfterFunc(ctx, session.Abandon)
	err = session.Run(cmd)
	stop()
	capture.Finish()
	if err != nil {
		return output.Failure(fmt.Errorf("on %s: %w", c.Connection.address(), err), cmd, capture.Tail())
	}
	c.Stdout, c.Stderr = capture.Outputs()
	return nil
}

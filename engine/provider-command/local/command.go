// Package local implements command:local:Command and the command:local:run invoke: commands
// run on the machine running Pulumi.
package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/gobwas/glob"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi-go-provider/infer/types"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"novalab/engine/provider-command/internal/lifecycle"
	"novalab/engine/provider-command/internal/output"
)

// Command runs a local command at create, update and delete (command:local:Command).
type Command struct{}

// Annotate documents the resource.
func (c *Command) Annotate(a infer.Annotator) {
	a.Describe(&c, "A command run on the machine running Pulumi when the resource is created, "+
		"updated or deleted. Nothing runs during preview, nor while the inputs are unchanged.")
}

// ExecInputs are what a local command and local.run share.
type ExecInputs struct {
	Stdin                  *string            `pulumi:"stdin,optional"`
	Logging                *Logging           `pulumi:"logging,optional"`
	Interpreter            *[]string          `pulumi:"interpreter,optional"`
	Dir                    *string            `pulumi:"dir,optional"`
	Environment            *map[string]string `pulumi:"environment,optional"`
	AssetPaths             *[]string          `pulumi:"assetPaths,optional"`
	ArchivePaths           *[]string          `pulumi:"archivePaths,optional"`
	AddPreviousOutputInEnv *bool              `pulumi:"addPreviousOutputInEnv,optional"`
}

// Annotate documents the inputs.
func (c *ExecInputs) Annotate(a infer.Annotator) {
	a.Describe(&c.Stdin, "Text passed to the command on standard input (not sent when empty).")
	a.Describe(&c.Logging, "Which output streams are logged while the command runs (both by default).")
	a.Describe(&c.Interpreter, "Program and arguments the command is appended to; default `[\"/bin/sh\", \"-c\"]`.")
	a.Describe(&c.Dir, "Working directory (must exist); default the provider's.")
	a.Describe(&c.Environment, "Environment variables added to the provider's own.")
	a.Describe(&c.AssetPaths, "Globs (github.com/gobwas/glob, `/` separated, `**` across directories, "+
		"`!` excludes, in order) of files, relative to dir, returned as `assets` after the command.")
	a.Describe(&c.ArchivePaths, "Globs as for assetPaths; the files are returned as one `archive`.")
	a.Describe(&c.AddPreviousOutputInEnv, "Pass the previous run's stdout and stderr as "+
		"PULUMI_COMMAND_STDOUT / PULUMI_COMMAND_STDERR (default true).")
}

// ExecOutputs are what a local command produces.
type ExecOutputs struct {
	Stdout  string                            `pulumi:"stdout"`
	Stderr  string                            `pulumi:"stderr"`
	Assets  *map[string]*types.AssetOrArchive `pulumi:"assets,optional"`
	Archive *resource.Archive                 `pulumi:"archive,optional"`
}

// Annotate documents the outputs.
func (c *ExecOutputs) Annotate(a infer.Annotator) {
	a.Describe(&c.Stdout, "Standard output of the last run.")
	a.Describe(&c.Stderr, "Standard error of the last run.")
	a.Describe(&c.Assets, "The files assetPaths matched, by path relative to dir.")
	a.Describe(&c.Archive, "The files archivePaths matched, as one archive.")
}

// CommandInputs are the resource's inputs.
type CommandInputs struct {
	lifecycle.Inputs
	ExecInputs
}

// CommandOutputs is the resource's state.
type CommandOutputs struct {
	CommandInputs
	ExecOutputs
}

var (
	_ infer.CustomResource[CommandInputs, CommandOutputs] = (*Command)(nil)
	_ infer.CustomUpdate[CommandInputs, CommandOutputs]   = (*Command)(nil)
	_ infer.CustomDelete[CommandOutputs]                  = (*Command)(nil)
)

// Create runs `create`; a failure records nothing.
func (*Command) Create(ctx context.Context, req infer.CreateRequest[CommandInputs]) (infer.CreateResponse[CommandOutputs], error) {
	state := CommandOutputs{CommandInputs: req.Inputs}
	id, err := resource.NewUniqueHex(req.Name, 8, 0)
	if err != nil || req.DryRun || req.Inputs.Create == nil {
		return infer.CreateResponse[CommandOutputs]{ID: id, Output: state}, err
	}
	if err := execute(ctx, *req.Inputs.Create, &state.ExecInputs, &state.ExecOutputs); err != nil {
		return infer.CreateResponse[CommandOutputs]{}, err
	}
	return infer.CreateResponse[CommandOutputs]{ID: id, Output: state}, nil
}

// Update runs `update`, else `create`.
func (*Command) Update(ctx context.Context, req infer.UpdateRequest[CommandInputs, CommandOutputs]) (infer.UpdateResponse[CommandOutputs], error) {
	state := CommandOutputs{CommandInputs: req.Inputs, ExecOutputs: req.State.ExecOutputs}
	cmd := req.Inputs.UpdateCommand()
	if req.DryRun || cmd == nil {
		return infer.UpdateResponse[CommandOutputs]{Output: state}, nil
	}
	err := execute(ctx, *cmd, &state.ExecInputs, &state.ExecOutputs)
	return infer.UpdateResponse[CommandOutputs]{Output: state}, err
}

// Delete runs `delete`.
func (*Command) Delete(ctx context.Context, req infer.DeleteRequest[CommandOutputs]) (infer.DeleteResponse, error) {
	state := req.State
	if state.Delete == nil {
		return infer.DeleteResponse{}, nil
	}
	return infer.DeleteResponse{}, execute(ctx, *state.Delete, &state.ExecInputs, &state.ExecOutputs)
}

// execute runs command through the interpreter and, on success, fills out (which holds the
// previous run's output on the way in).
func execute(ctx context.Context, command string, in *ExecInputs, out *ExecOutputs) error {
	args := []string{"/bin/sh", "-c"}
	if in.Interpreter != nil && len(*in.Interpreter) > 0 {
		args = append([]string(nil), *in.Interpreter...)
	}
	args = append(args, command)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...) //nolint:gosec // running the user's command is the point

	if in.Dir != nil && *in.Dir != "" {
		cmd.Dir = *in.Dir
	} else {
		wd, err := os.Getwd() // absolute, so assets found here keep working from elsewhere
		if err != nil {
			return err
		}
		cmd.Dir = wd
	}
	cmd.Env = os.Environ()
	if in.Environment != nil {
		for k, v := range *in.Environment {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	if in.AddPreviousOutputInEnv == nil || *in.AddPreviousOutputInEnv {
		if out.Stdout != "" {
			cmd.Env = append(cmd.Env, output.EnvStdout+"="+out.Stdout)
		}
		if out.Stderr != "" {
			cmd.Env = append(cmd.Env, output.EnvStderr+"="+out.Stderr)
		}
	}
	if in.Stdin != nil && *in.Stdin != "" {
		cmd.Stdin = strings.NewReader(*in.Stdin)
	}
	logStdout, logStderr := in.Logging.streams()
	capture := output.NewCapture(ctx, logStdout, logStderr)
	cmd.Stdout, cmd.Stderr = capture.Stdout(), capture.Stderr()
	err := cmd.Run()
	capture.Finish()
	if err != nil {
		return output.Failure(err, command, capture.Tail())
	}
	out.Stdout, out.Stderr = capture.Outputs()

	if in.AssetPaths != nil {
		found, err := globFiles(cmd.Dir, *in.AssetPaths)
		if err != nil {
			return err
		}
		assets := map[string]*types.AssetOrArchive{}
		for rel, abs := range found {
			asset, err := resource.NewPathAsset(abs)
			if err != nil {
				return err
			}
			assets[rel] = &types.AssetOrArchive{Asset: asset}
		}
		out.Assets = &assets
	}
	if in.ArchivePaths != nil {
		found, err := globFiles(cmd.Dir, *in.ArchivePaths)
		if err != nil {
			return err
		}
		members := map[string]any{}
		for rel, abs := range found {
			asset, err := resource.NewPathAsset(abs)
			if err != nil {
				return err
			}
			members[rel] = asset
		}
		archive, err := resource.NewAssetArchive(members)
		if err != nil {
			return err
		}
		out.Archive = archive
	}
	return nil
}

// globFiles returns the files under dir the rules select, by slash-separated relative path
// (value: the path to read it from). Rules apply in order; a `!` rule removes what earlier
// rules added.
func globFiles(dir string, rules []string) (map[string]string, error) {
	type rule struct {
		g       glob.Glob
		exclude bool
	}
	compiled := make([]rule, 0, len(rules))
	for _, r := range rules {
		pattern, exclude := strings.CutPrefix(r, "!")
		g, err := glob.Compile(pattern, '/')
		if err != nil {
			return nil, fmt.Errorf("path glob %q: %w", r, err)
		}
		compiled = append(compiled, rule{g, exclude})
	}
	found := map[string]string{}
	err := fs.WalkDir(os.DirFS(dir), ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		for _, r := range compiled {
			if !r.g.Match(rel) {
				continue
			}
			if r.exclude {
				delete(found, rel)
			} else {
				found[rel] = filepath.Join(dir, filepath.FromSlash(rel))
			}
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("dir %s: %w", dir, err)
	}
	return found, err
}

package local

import (
	"context"

	"github.com/pulumi/pulumi-go-provider/infer"
)

// Run is the command:local:run invoke: a local command run on every preview and update.
type Run struct{}

// Annotate documents the function.
func (r *Run) Annotate(a infer.Annotator) {
	a.Describe(&r, "Runs a local command every time the program runs, previews included. "+
		"Use local.Command to run only when inputs change.")
}

// RunInputs are the invoke's arguments.
type RunInputs struct {
	ExecInputs
	Command string `pulumi:"command"`
}

// Annotate documents the arguments.
func (r *RunInputs) Annotate(a infer.Annotator) {
	a.Describe(&r.Command, "The command to run.")
}

// RunOutputs are the invoke's result: its arguments and what the command produced.
type RunOutputs struct {
	RunInputs
	ExecOutputs
}

// Invoke runs the command.
func (*Run) Invoke(ctx context.Context, req infer.FunctionRequest[RunInputs]) (infer.FunctionResponse[RunOutputs], error) {
	out := RunOutputs{RunInputs: req.Input}
	err := execute(ctx, req.Input.Command, &out.ExecInputs, &out.ExecOutputs)
	return infer.FunctionResponse[RunOutputs]{Output: out}, err
}

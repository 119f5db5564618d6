// Package lifecycle holds the inputs local and remote commands share: which command runs at
// which point of the resource's life, and the triggers that force a replacement.
package lifecycle

import "github.com/pulumi/pulumi-go-provider/infer"

// Inputs is embedded (flattened) into each command resource's inputs.
type Inputs struct {
	Triggers *[]any  `pulumi:"triggers,optional" provider:"replaceOnChanges"`
	Create   *string `pulumi:"create,optional"`
	Update   *string `pulumi:"update,optional"`
	Delete   *string `pulumi:"delete,optional"`
}

// Annotate documents the fields in the schema.
func (i *Inputs) Annotate(a infer.Annotator) {
	a.Describe(&i.Triggers, "Values of any type; when one changes, the resource is replaced "+
		"(the old one's `delete` runs, the new one's `create` runs).")
	a.Describe(&i.Create, "Runs when the resource is created; also on any input change when "+
		"there is no `update`. Nothing runs while inputs are unchanged.")
	a.Describe(&i.Update, "Runs when an input other than `triggers` changes. "+
		"PULUMI_COMMAND_STDOUT/STDERR hold the previous run's output.")
	a.Describe(&i.Delete, "Runs when the resource is deleted, with PULUMI_COMMAND_STDOUT/STDERR "+
		"holding the last run's output.")
}

// UpdateCommand is what an update runs: `update`, else `create`, else nothing.
func (i *Inputs) UpdateCommand() *string {
	if i.Update != nil {
		return i.Update
	}
	return i.Create
}

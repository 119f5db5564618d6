package local

import (
	"github.com/pulumi/pulumi-go-provider/infer"

	"novalab/engine/provider-command/internal/output"
)

// Logging chooses which of a command's streams go to the engine log; both are captured as outputs
// either way. A type of this module's own: the SDK has command:local:Logging (output.LoggingValues).
type Logging string

// Values lists the enum for the schema.
func (Logging) Values() []infer.EnumValue[Logging] { return output.LoggingValues[Logging]() }

func (l *Logging) streams() (stdout, stderr bool) { return output.Streams(l) }

package remote

import "github.com/pulumi/pulumi-go-provider/infer"

// Logging chooses which of a command's streams go to the engine log; both are captured as
// outputs either way. Its own type per module because the SDK has command:remote:Logging
// and command:local:Logging.
type Logging string

// The values the SDK's Logging enum sends.
const (
	LogStdout          Logging = "stdout"
	LogStderr          Logging = "stderr"
	LogStdoutAndStderr Logging = "stdoutAndStderr"
	LogNone            Logging = "none"
)

// Values lists the enum for the schema.
func (Logging) Values() []infer.EnumValue[Logging] {
	return []infer.EnumValue[Logging]{
		{Name: "stdout", Value: LogStdout, Description: "Log stdout, not stderr."},
		{Name: "stderr", Value: LogStderr, Description: "Log stderr, not stdout."},
		{Name: "stdoutAndStderr", Value: LogStdoutAndStderr, Description: "Log both (the default)."},
		{Name: "none", Value: LogNone, Description: "Log neither."},
	}
}

// streams reports which streams to log; unset means both, as upstream.
func (l *Logging) streams() (stdout, stderr bool) {
	if l == nil {
		return true, true
	}
	return *l == LogStdout || *l == LogStdoutAndStderr, *l == LogStderr || *l == LogStdoutAndStderr
}

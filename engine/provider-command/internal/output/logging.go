package output

import "github.com/pulumi/pulumi-go-provider/infer"

// The values of the SDK's Logging enums (command:local:Logging and command:remote:Logging are two
// types of the same values: each module declares its own Go type, infer names it by its package).
const (
	LogStdout          = "stdout"
	LogStderr          = "stderr"
	LogStdoutAndStderr = "stdoutAndStderr"
	LogNone            = "none"
)

// LoggingValues lists the enum for a module's Logging type.
func LoggingValues[T ~string]() []infer.EnumValue[T] {
	return []infer.EnumValue[T]{
		{Name: LogStdout, Value: LogStdout, Description: "Log stdout, not stderr."},
		{Name: LogStderr, Value: LogStderr, Description: "Log stderr, not stdout."},
		{Name: LogStdoutAndStderr, Value: LogStdoutAndStderr, Description: "Log both (the default)."},
		{Name: LogNone, Value: LogNone, Description: "Log neither."},
	}
}

// Streams reports which streams a Logging value sends to the engine log; unset means both, as
// upstream.
func Streams[T ~string](l *T) (stdout, stderr bool) {
	if l == nil {
		return true, true
	}
	v := string(*l)
	return v == LogStdout || v == LogStdoutAndStderr, v == LogStderr || v == LogStdoutAndStderr
}

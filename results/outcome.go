package results

// Exit codes of jetsam run (a contract: scripts and CI depend on them).
const (
	ExitValid   = 0
	ExitAnomaly = 1
	ExitUnknown = 2
	ExitCannot  = 3
)

// Verdict words of an outcome file, one per exit code; soak-summary.json
// uses the same words.
const (
	VerdictValid   = "valid"
	VerdictInvalid = "invalid"
	VerdictUnknown = "unknown"
	VerdictCannot  = "could-not-run"
)

// Outcome is the file `jetsam run --outcome FILE` writes at its very end,
// also when the run could not run or was interrupted, so that a program
// that started the run (soak) learns what it made without reading its log.
type Outcome struct {
	// Dir is the run folder; empty when the run made none.
	Dir      string `json:"dir"`
	ExitCode int    `json:"exit_code"`
	// Verdict is the exit code's word: valid, invalid, unknown or
	// could-not-run.
	Verdict string `json:"verdict"`
	// Error is the run's one sentence when it could not run.
	Error string `json:"error,omitempty"`
}

// VerdictOf is an exit code's verdict word, or "" for a code jetsam run
// never returns.
func VerdictOf(exitCode int) string {
	switch exitCode {
	case ExitValid:
		return VerdictValid
	case ExitAnomaly:
		return VerdictInvalid
	case ExitUnknown:
		return VerdictUnknown
	case ExitCannot:
		return VerdictCannot
	}
	return ""
}

package cases

// The schedules are tuned to re-find each bug on the affected side; the
// checkers are never tuned to a case. Writes only (--read-mode none):
// stale reads under faults are documented NATS behaviour and would hide
// the case's own symptom on both sides.
var battery = []Case{
	{
		Name:      "power-loss-default-sync",
		Title:     "acknowledged appends lost when every node loses power with the default sync interval",
		Reference: "nats-server issue 7564 (documented, not fixed: --sync-interval always is the control)",
		Demonstrates: "the power-loss fault drops exactly the writes the OS had not synced, and the log checker " +
			"sees acknowledged appends missing or their sequences reused",
		Flags: []string{"--workload", "log", "--read-mode", "none", "--nemesis", "power-loss", "--targets", "all",
			"--writeback", "5s", "--nemesis-interval", "15s", "--time-limit", "40s", "--recover-timeout", "20s"},
		Affected: Side{Flags: []string{"--sync-interval", "default"}},
		Fixed:    Side{Flags: []string{"--sync-interval", "always"}},
		Kinds:    []string{"lost", "duplicate-sequence"},
	},
}

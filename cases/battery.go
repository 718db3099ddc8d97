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
	{
		Name:      "dedup-placeholder",
		Title:     "a resend with the same message ID answered \"duplicate\" (sequence 0) but never stored, after the leader changed",
		Reference: "nats-server PR 6486 (PR 6415 reverted); in every 2.10 release, fixed in 2.11.0",
		Demonstrates: "the log workload resends indeterminate message-ID appends as clients do, and the log checker " +
			"judges every attempt of a value together: a duplicate answer for a value the final log lacks",
		Flags: []string{"--workload", "log", "--read-mode", "none", "--nemesis", "partition", "--partition-shapes", "leader",
			"--nemesis-interval", "10s", "--time-limit", "30s", "--op-timeout", "1s", "--concurrency", "4n"},
		Affected: Side{Flags: []string{"--server-version", "v2.10.26"}},
		Fixed:    Side{Flags: []string{"--server-version", "v2.11.0"}},
		Kinds:    []string{"duplicate-unstored"},
	},
	{
		Name:      "syncblocks-pending-writes",
		Title:     "the periodic sync closes a block file idle for 30 s and drops writes still waiting to be flushed, after a long pause",
		Reference: "nats-server PR 7594; async flush of replicated streams (default since 2.12.0), fixed in 2.12.3",
		Demonstrates: "a pause longer than the server's idle-file timeout, with a short sync interval, and the final reads " +
			"of every replica: lost appends show as replicas that diverge or a leader that cannot serve its own log",
		Flags: []string{"--workload", "log", "--read-mode", "none", "--nemesis", "pause", "--targets", "all",
			"--nemesis-interval", "34s", "--time-limit", "82s", "--sync-interval", "1s"},
		Affected: Side{Flags: []string{"--server-version", "v2.12.2"}},
		Fixed:    Side{Flags: []string{"--server-version", "v2.12.3"}},
		Kinds:    []string{"lost", "divergence", "no-recovery"},
	},
}

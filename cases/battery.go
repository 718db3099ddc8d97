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
	{
		Name:      "parallel-catchup",
		Title:     "a deposed leader catching up over delayed Raft traffic starts catch-ups in parallel and never becomes current",
		Reference: "nats-server PR 7424 (a regression of PR 7209's catch-up reset): in 2.12.0, fixed in 2.12.1",
		Demonstrates: "the raft fault package delays a stream's Raft messages while leader partitions come and go; " +
			"the recovery check names the replica that never catches up",
		Flags: []string{"--workload", "log", "--read-mode", "none", "--nemesis", "raft,partition", "--nemesis-overlap",
			"--partition-shapes", "leader", "--raft-faults", "delay", "--raft-delay", "3s", "--raft-jitter", "2s",
			"--raft-groups", "workload", "--targets", "one", "--nemesis-interval", "8s", "--time-limit", "60s"},
		Affected: Side{Flags: []string{"--server-version", "v2.12.0"}},
		Fixed:    Side{Flags: []string{"--server-version", "v2.12.1"}},
		Kinds:    []string{"no-recovery", "lost", "divergence"},
		Raft:     true,
	},
	{
		Name:         "peer-add-partition",
		Title:        "the meta leader cut off right after proposing an add-peer entry: nodes disagree on the cluster size and JetStream never becomes current",
		Reference:    "nats-server PR 8332 (in-server test TestNRGPeerAddAndPartitionLeader): before 2.12.12 and 2.14.3",
		Demonstrates: "a raft fault triggered by the add-peer append entry a rejoining node causes, aimed at the entry's sender",
		Flags: []string{"--nodes", "4", "--workload", "kv", "--read-mode", "none", "--nemesis", "membership,raft", "--nemesis-overlap",
			"--raft-groups", "meta", "--raft-faults", "isolate", "--raft-trigger", "add-peer", "--raft-trigger-wait", "25s",
			"--targets", "meta-leader", "--nemesis-interval", "10s", "--time-limit", "90s"},
		Affected: Side{Flags: []string{"--server-version", "v2.14.2"}},
		Fixed:    Side{Flags: []string{"--server-version", "v2.14.3"}},
		Kinds:    []string{"no-recovery"},
		Raft:     true,
	},
}

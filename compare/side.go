package compare

import (
	"context"

	"github.com/jetsam-dev/jetsam"
	"github.com/jetsam-dev/jetsam/results"
)

// sideRun is one side's run on one seed, as the comparison records it.
type sideRun struct {
	results.CompareRun
	// reported is what the side's nodes said they run.
	reported string
}

// runSide runs one side on one seed, in this process.
func runSide(ctx context.Context, cfg jetsam.Config, side, scenario, compareDir string, o Options) sideRun {
	if len(cfg.NodeCommand) == 0 {
		// The binary the servers were prepared with.
		cfg.NodeCommand = []string{o.Jetsam, "node"}
	}
	out, err := jetsam.Run(ctx, cfg, jetsam.RunOptions{Status: o.Log, Log: o.Log, StatusIsTerminal: o.StatusIsTerminal,
		Command: append([]string{"jetsam", "run"}, jetsam.ReplayArgs(cfg)...)})
	var r sideRun
	if err != nil {
		r.CompareRun = results.RunOf(side, scenario, cfg.Seed, "", results.ExitCannot, nil)
		r.Error = jetsam.Sentence(err)
		if out != nil {
			r.Dir = results.RelTo(compareDir, out.Dir)
		}
		return r
	}
	r.CompareRun = results.RunOf(side, scenario, cfg.Seed, results.RelTo(compareDir, out.Dir), out.ExitCode(), out.Result)
	if out.Test != nil && out.Test.Server != nil {
		r.reported = out.Test.Server.Summary()
	}
	return r
}

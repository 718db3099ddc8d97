// Command checkbench measures jetsam's checker against plain Porcupine on
// generated KV histories. Each measurement runs in a process of its own, so
// its peak memory is its own: see scripts/checkbench.sh.
//
//	checkbench gen -ops N -keys K -clients C -info F [-stale] -out FILE
//	checkbench decode FILE           read and decode only
//	checkbench jetsam FILE           read, decode and check with jetsam
//	checkbench porcupine FILE        read, decode and check with plain Porcupine
//	checkbench gen-jepsen -ops N -keys K -clients C -info F -append F [-stale] [-times] -out FILE
//	checkbench jepsen FILE           read an EDN history and check it as jetsam check --format jepsen does
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/jetsam-dev/jetsam/checker"
	"github.com/jetsam-dev/jetsam/history"
	"github.com/jetsam-dev/jetsam/internal/synth"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: checkbench gen|decode|jetsam|porcupine|gen-jepsen|jepsen ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2:])
	case "gen-jepsen":
		err = genJepsen(os.Args[2:])
	case "decode", "jetsam", "porcupine", "jepsen":
		err = measure(os.Args[1], os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "checkbench:", err)
		os.Exit(1)
	}
}

func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	ops := fs.Int("ops", 1_000_000, "operations")
	keys := fs.Int("keys", 1000, "keys")
	clients := fs.Int("clients", 32, "clients")
	info := fs.Float64("info", 0.05, "fraction of writes that end indeterminate")
	stale := fs.Bool("stale", false, "plant one stale read")
	seed := fs.Uint64("seed", 1, "seed")
	out := fs.String("out", "", "history file to write")
	fs.Parse(args)
	events := synth.KV(*ops, *keys, *clients, *info, *seed)
	if *stale && synth.PlantStaleRead(events) < 0 {
		return fmt.Errorf("no read to make stale")
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(w)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// genJepsen writes a Jepsen EDN key-value history (see synth.JepsenKV).
func genJepsen(args []string) error {
	fs := flag.NewFlagSet("gen-jepsen", flag.ExitOnError)
	cfg := synth.JepsenKVConfig{}
	fs.IntVar(&cfg.Ops, "ops", 20_000, "operations")
	fs.IntVar(&cfg.Keys, "keys", 10, "keys")
	fs.IntVar(&cfg.Clients, "clients", 32, "clients")
	fs.Float64Var(&cfg.InfoFrac, "info", 0.05, "fraction of writes that end indeterminate")
	fs.Float64Var(&cfg.AppendFrac, "append", 0, "fraction of writes that are appends (the rest are puts)")
	fs.BoolVar(&cfg.Stale, "stale", false, "plant one stale read")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed")
	times := fs.Bool("times", false, "give every op map its :time")
	out := fs.String("out", "", "history file to write")
	fs.Parse(args)
	h := synth.JepsenKV(cfg)
	if cfg.Stale && h.Planted < 0 {
		return fmt.Errorf("no read to make stale")
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := synth.WriteEDN(f, h.Events, *times); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// measure prints one line: what, seconds, peak resident MB, verdict.
func measure(what string, args []string) error {
	fs := flag.NewFlagSet(what, flag.ExitOnError)
	timeout := fs.Duration("timeout", 5*time.Minute, "search time limit")
	fs.Parse(args)
	path := fs.Arg(0)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	began := time.Now()
	verdict := "-"
	switch what {
	case "decode":
		// Reading and decoding every event, keeping nothing: the baseline.
		if _, err := history.Scan(f, func(*history.Event) error { return nil }); err != nil {
			return err
		}
	case "jetsam":
		r, err := checker.CheckReader(context.Background(), f, checker.Options{Timeout: *timeout})
		if err != nil {
			return err
		}
		verdict = r.Valid.String()
	case "jepsen":
		h, err := history.ReadJepsen(f)
		if err != nil {
			return err
		}
		verdict = checker.CheckHistory(context.Background(), h, checker.Options{Timeout: *timeout}).Valid.String()
	case "porcupine":
		// Plain Porcupine over every operation, partitioned by key, with
		// the same model: no pruning, no analysis, no early verdicts.
		p := checker.NewPairer()
		if _, err := history.Scan(f, func(e *history.Event) error { p.Add(e); return nil }); err != nil {
			return err
		}
		model, ops := checker.PlainKV(p.Ops())
		switch porcupine.CheckOperationsTimeout(model, ops, *timeout) {
		case porcupine.Ok:
			verdict = "valid"
		case porcupine.Illegal:
			verdict = "invalid"
		default:
			verdict = "unknown"
		}
	}
	fmt.Printf("%s\t%.2f\t%d\t%s\n", what, time.Since(began).Seconds(), peakMB(), verdict)
	return nil
}

// peakMB is this process's peak resident memory (VmHWM), in MB.
func peakMB() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
			return kb / 1024
		}
	}
	return -1
}

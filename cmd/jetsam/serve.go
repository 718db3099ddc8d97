package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/jetsam-dev/jetsam/results"
)

func cmdServe(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("serve", `Usage: jetsam serve [--store DIR] [--addr HOST:PORT]

Serves a browser over a store: every run, newest first, with its verdict,
workload, faults and operation counts, filterable by verdict, linking to
each report and raw file. Serves nothing outside the store. Stops at Ctrl-C.`, stdout)
	store := fs.String("store", "store", "the store to serve")
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (loopback by default)")
	if help, err := parse(fs, args); help || err != nil {
		return exitValid, err
	}
	if fs.NArg() > 0 {
		return 0, errorf("serve takes no arguments, got %q: run 'jetsam serve --help' for the flags", fs.Args())
	}
	if fi, err := os.Stat(*store); err != nil || !fi.IsDir() {
		return 0, errorf("--store %s is not a folder: give the store of your runs", *store)
	}
	h, err := results.Server(*store)
	if err != nil {
		return 0, errorf("cannot serve %s: %v", *store, err)
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return 0, errorf("cannot listen on %s (%v): pick another --addr", *addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "jetsam: serving %s at http://%s/\n", *store, l.Addr())
	ctx, stop := interruptible(stderr, nil)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return 0, cliError{fmt.Sprintf("serving %s stopped: %v", *store, err)}
	}
	return exitValid, nil
}

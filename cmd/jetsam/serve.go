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
each report and raw file. Serves a run's pages and the files its report
lists, nothing else (no private key, nothing outside the store), and answers
only requests addressed to --addr or to localhost. There is no password:
anyone who can reach --addr can read the store. Stops at Ctrl-C.`, stdout)
	store := fs.String("store", "store", "the store to serve")
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (loopback by default; any other lets other machines read the store)")
	if help, err := parse(fs, args); help || err != nil {
		return exitValid, err
	}
	if fs.NArg() > 0 {
		return 0, errorf("serve takes no arguments, got %q: run 'jetsam serve --help' for the flags", fs.Args())
	}
	if fi, err := os.Stat(*store); err != nil || !fi.IsDir() {
		return 0, errorf("--store %s is not a folder: give the store of your runs", *store)
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return 0, errorf("cannot listen on %s (%v): pick another --addr", *addr, err)
	}
	defer l.Close()
	h, err := results.Server(*store, servedAddrs(*addr, l.Addr())...)
	if err != nil {
		return 0, errorf("cannot serve %s: %v", *store, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "jetsam: serving %s at http://%s/\n", *store, l.Addr())
	if w := exposure(l.Addr()); w != "" {
		fmt.Fprintln(stderr, w)
	}
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

// servedAddrs are the addresses a request may name as its Host: --addr as
// given, with the port the listener got, and the listener's own address.
func servedAddrs(flag string, l net.Addr) []string {
	out := []string{l.String()}
	host, _, err := net.SplitHostPort(flag)
	_, port, err2 := net.SplitHostPort(l.String())
	if err == nil && err2 == nil {
		out = append(out, net.JoinHostPort(host, port))
	}
	return out
}

// exposure is the one warning line for a listener other machines can
// reach, or "" for a loopback one.
func exposure(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if ok && tcp.IP.IsLoopback() {
		return ""
	}
	return fmt.Sprintf("jetsam: warning: %s is not a loopback address: anyone who can reach it can read every report, history, configuration and node log in the store, without a password", a)
}

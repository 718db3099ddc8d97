package main

import (
	"net"
	"slices"
	"strings"
	"testing"
)

// One warning line for a listener other machines can reach; none for
// loopback.
func TestServeWarnsOffLoopback(t *testing.T) {
	for _, c := range []struct {
		ip   string
		warn bool
	}{{"127.0.0.1", false}, {"::1", false}, {"127.0.0.2", false}, {"0.0.0.0", true}, {"::", true}, {"10.1.2.3", true}, {"fe80::1", true}} {
		w := exposure(&net.TCPAddr{IP: net.ParseIP(c.ip), Port: 8080})
		if (w != "") != c.warn || strings.Count(w, "\n") > 0 || (c.warn && !strings.Contains(w, "warning")) {
			t.Errorf("listening on %s: %q", c.ip, w)
		}
	}
	l := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 41234}
	if got := servedAddrs("localhost:0", l); !slices.Equal(got, []string{"127.0.0.1:41234", "localhost:41234"}) {
		t.Errorf("served addresses %v", got)
	}
}

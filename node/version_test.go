package node

import (
	"strings"
	"testing"
)

func TestAtLeast(t *testing.T) {
	cases := []struct {
		v, min string
		want   bool
	}{
		{"2.12.8", "2.10.10", true}, {"2.10.10", "2.10.10", true}, {"2.10.9", "2.10.10", false},
		{"v2.9.25", "2.10.0", false}, {"2.10.0-beta.3", "2.10.0", true}, {"", "2.10.0", true}, {"weird", "2.10.0", true},
		{"3.0.0", "2.10.10", true}, {"2.11.0", "2.10.10", true},
	}
	for _, c := range cases {
		if got := AtLeast(c.v, c.min); got != c.want {
			t.Errorf("AtLeast(%q, %q) = %v, want %v", c.v, c.min, got, c.want)
		}
	}
}

// Servers before the cluster block's own pings get the server-wide ones;
// newer servers get them in the cluster block; route TLS lands in the
// cluster block either way.
func TestConfigForOlderServers(t *testing.T) {
	s := Spec{Name: "n1", ClientPort: 4222, ClusterPort: 6222, HTTPPort: 8222, Dir: "/d", Routes: []string{"127.0.0.1:1"},
		TLS: &TLSFiles{CA: "/d/ca.pem", Cert: "/d/c.pem", Key: "/d/k.pem"}}
	s.ServerVersion = "2.9.25"
	old := s.Config()
	cluster := old[strings.Index(old, "cluster {"):]
	if !strings.Contains(old, "\nping_interval: \"1s\"\nping_max: 3\n") || strings.Contains(cluster, "ping_interval") {
		t.Errorf("config for 2.9.25 wants server-wide pings only:\n%s", old)
	}
	s.ServerVersion = "2.12.8"
	cur := s.Config()
	cluster = cur[strings.Index(cur, "cluster {"):]
	if !strings.Contains(cluster, "  ping_interval: \"1s\"\n  ping_max: 3\n") || strings.Contains(cur[:strings.Index(cur, "cluster {")], "ping_interval") {
		t.Errorf("config for 2.12.8 wants the cluster block's pings:\n%s", cur)
	}
	for _, want := range []string{`cert_file: "/d/c.pem"`, `ca_file: "/d/ca.pem"`, "verify: true"} {
		if !strings.Contains(cluster, want) {
			t.Errorf("cluster block lacks %s:\n%s", want, cluster)
		}
	}
}

func TestCheckSettings(t *testing.T) {
	if err := CheckSettings("2.9.25", Options{RouteCompression: "s2_fast"}); err == nil || !strings.Contains(err.Error(), "--route-compression needs nats-server 2.10.0 or newer, and this server is 2.9.25") {
		t.Errorf("compression on 2.9.25: %v", err)
	}
	if err := CheckSettings("2.9.25", Options{RoutePoolSize: -1}); err == nil || !strings.Contains(err.Error(), "--route-pool-size") {
		t.Errorf("pool size on 2.9.25: %v", err)
	}
	if err := CheckSettings("2.9.25", Options{SyncInterval: "always"}); err == nil || !strings.Contains(err.Error(), "--sync-interval") {
		t.Errorf("sync interval on 2.9.25: %v", err)
	}
	if err := CheckSettings("2.9.25", Options{RouteTLS: true}); err != nil {
		t.Errorf("plain settings on 2.9.25: %v", err)
	}
	if err := CheckSettings("2.12.8", Options{RouteCompression: "s2_auto", RoutePoolSize: -1, SyncInterval: "always"}); err != nil {
		t.Errorf("2.12.8: %v", err)
	}
}

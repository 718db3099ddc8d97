package node

import (
	"fmt"
	"strconv"
	"strings"
)

// Versions in which config settings jetsam writes first appeared. A setting
// an older server lacks makes it refuse the whole config file.
const (
	// cluster { ping_interval, ping_max }: older servers take the
	// server-wide pings for routes (measured: v2.9.25 refused ping_max in
	// the cluster block).
	clusterPingsSince = "2.10.10"
	// cluster { compression, pool_size } and jetstream { sync_interval }.
	routePoolingSince = "2.10.0"
)

// AtLeast reports whether server version v ("2.12.8", "v2.10.0-beta.1") is
// min or newer. An empty or unreadable v counts as new: it is the embedded
// server or a build that names no release.
func AtLeast(v, min string) bool {
	a, ok := parseVersion(v)
	if !ok {
		return true
	}
	b, _ := parseVersion(min)
	for i := range a {
		if a[i] != b[i] {
			return a[i] > b[i]
		}
	}
	return true
}

func parseVersion(v string) ([3]int, bool) {
	v = strings.TrimPrefix(v, "v")
	if i := strings.IndexAny(v, "-+ "); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	var out [3]int
	if len(parts) != 3 {
		return out, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

// CheckSettings explains, in one sentence, a setting of o that a server
// of the given version does not have.
func CheckSettings(version string, o Options) error {
	old := func(setting, since string) error {
		return fmt.Errorf("%s needs nats-server %s or newer, and this server is %s: leave it out or choose a newer server", setting, since, version)
	}
	switch {
	case o.RouteCompression != "" && !AtLeast(version, routePoolingSince):
		return old("--route-compression", routePoolingSince)
	case o.RoutePoolSize != 0 && !AtLeast(version, routePoolingSince):
		return old("--route-pool-size", routePoolingSince)
	case o.SyncInterval != "" && !AtLeast(version, routePoolingSince):
		return old("--sync-interval", routePoolingSince)
	}
	return nil
}

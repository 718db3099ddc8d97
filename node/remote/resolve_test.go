package remote

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// fakeLookup answers names from a table, as DNS would.
func fakeLookup(t *testing.T, names map[string][]string) {
	t.Helper()
	old := lookupNetIP
	t.Cleanup(func() { lookupNetIP = old })
	lookupNetIP = func(ctx context.Context, network, host string) ([]netip.Addr, error) {
		addrs, ok := names[host]
		if !ok {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		var out []netip.Addr
		for _, a := range addrs {
			out = append(out, netip.MustParseAddr(a))
		}
		return out, nil
	}
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	// The real resolver, on a name every machine has.
	ip, err := Resolve(ctx, Host{"root", "localhost", 22})
	if err != nil || !ip.IsLoopback() {
		t.Errorf("localhost resolved to %v, %v", ip, err)
	}

	fakeLookup(t, map[string][]string{"node1": {"::ffff:10.0.0.5", "fd00::5"}, "node2": {"10.0.0.6"}, "again": {"10.0.0.6"}, "empty": nil})
	if ip, err := Resolve(ctx, Host{"root", "node1", 2222}); err != nil || ip != netip.MustParseAddr("10.0.0.5") {
		t.Errorf("node1 resolved to %v, %v; want the first address, 10.0.0.5", ip, err)
	}
	if ip, err := Resolve(ctx, Host{"root", "fd00::7", 22}); err != nil || ip != netip.MustParseAddr("fd00::7") {
		t.Errorf("an address resolved to %v, %v", ip, err)
	}
	for name, want := range map[string]string{
		"nosuch": "host root@nosuch:22: the name nosuch resolves to no address (lookup nosuch: no such host): fix the name, add it to DNS or /etc/hosts, or give the host's IP address",
		"empty":  "host root@empty:22: the name empty resolves to no address (the answer holds no address)",
	} {
		_, err := Resolve(ctx, Host{"root", name, 22})
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Resolve(%s): %v\nwant %s", name, err, want)
		}
		var dns *net.DNSError
		if name == "nosuch" && !errors.As(err, &dns) {
			t.Errorf("Resolve(%s): %v does not wrap the lookup's error", name, err)
		}
	}

	hosts := []Host{{"root", "node1", 22}, {"root", "node2", 22}, {"root", "10.0.0.7", 22}}
	ips, err := ResolveAll(ctx, hosts)
	if err != nil || len(ips) != 3 || ips[0].String() != "10.0.0.5" || ips[1].String() != "10.0.0.6" || ips[2].String() != "10.0.0.7" {
		t.Errorf("ResolveAll = %v, %v", ips, err)
	}
	_, err = ResolveAll(ctx, []Host{{"root", "node1", 22}, {"root", "nosuch", 22}, {"root", "alsonot", 22}})
	if err == nil || !strings.HasPrefix(err.Error(), "host root@nosuch:22: ") {
		t.Errorf("ResolveAll with two bad names: %v, want the first's error", err)
	}
	_, err = ResolveAll(ctx, []Host{{"root", "node2", 22}, {"root", "10.0.0.5", 22}, {"root", "again", 22}})
	if err == nil || err.Error() != "hosts root@node2:22 and root@again:22 are one machine (both 10.0.0.6:22): list each host once" {
		t.Errorf("ResolveAll with one machine twice: %v", err)
	}
	if _, err := ResolveAll(ctx, []Host{{"root", "node2", 22}, {"root", "again", 2222}}); err != nil {
		t.Errorf("two ports of one machine: %v", err)
	}
}

package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// resolveTimeout bounds one host name's lookup.
const resolveTimeout = 10 * time.Second

// lookupNetIP looks a name up; tests replace it to give names without DNS.
var lookupNetIP = net.DefaultResolver.LookupNetIP

// Resolve returns the IP address of h: its address when that is one, else
// the first address its name resolves to. A run resolves each name once,
// so the SSH connection, the node's listen address and its peers' proxy
// targets are one machine even if the name's answer changes during the
// run (and a proxy dials only addresses, never names).
func Resolve(ctx context.Context, h Host) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(h.Addr); err == nil {
		return ip.Unmap(), nil
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	ips, err := lookupNetIP(ctx, "ip", h.Addr)
	if err == nil && len(ips) == 0 {
		err = errors.New("the answer holds no address")
	}
	if err != nil {
		return netip.Addr{}, fmt.Errorf("host %s: the name %s resolves to no address (%w): fix the name, add it to DNS or /etc/hosts, or give the host's IP address", h, h.Addr, err)
	}
	return ips[0].Unmap(), nil
}

// ResolveAll resolves every host at once (see Resolve) and refuses two
// hosts that are one machine (the same address and port), whose nodes
// would take each other's ports. Errors name the first failing host in
// list order.
func ResolveAll(ctx context.Context, hosts []Host) ([]netip.Addr, error) {
	ips := make([]netip.Addr, len(hosts))
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() { ips[i], errs[i] = Resolve(ctx, h) })
	}
	wg.Wait()
	if err := firstErr(errs); err != nil {
		return nil, err
	}
	seen := map[netip.AddrPort]int{}
	for i, h := range hosts {
		ap := netip.AddrPortFrom(ips[i], uint16(h.Port))
		if j, ok := seen[ap]; ok {
			return nil, fmt.Errorf("hosts %s and %s are one machine (both %s): list each host once", hosts[j], h, ap)
		}
		seen[ap] = i
	}
	return ips, nil
}

func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

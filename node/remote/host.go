// Package remote reaches the hosts a distributed run uses, over SSH
// (golang.org/x/crypto/ssh): it parses host lists, dials and
// authenticates (a key file or ssh-agent, host keys from known_hosts),
// runs commands, uploads files, fetches directories and tells each host's
// platform. Every error is one sentence that names the host and says what
// to do.
package remote

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Host is a remote machine as user@addr:port.
type Host struct {
	User, Addr string
	Port       int
}

// String is user@addr:port (IPv6 addresses in brackets).
func (h Host) String() string {
	return h.User + "@" + h.hostport()
}

func (h Host) hostport() string { return net.JoinHostPort(h.Addr, strconv.Itoa(h.Port)) }

const hostForm = "write it as user@host[:port], e.g. root@10.0.0.5 or root@node1:2222"

// ParseHost parses "user@host[:port]" (port 22 by default; an IPv6
// address with a port goes in brackets: root@[fd00::5]:22).
func ParseHost(s string) (Host, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Host{}, fmt.Errorf("an empty host was given: %s", hostForm)
	}
	if strings.ContainsAny(s, " \t/") {
		return Host{}, fmt.Errorf("host %q contains a space or a slash: %s", s, hostForm)
	}
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return Host{}, fmt.Errorf("host %q names no user: %s", s, hostForm)
	}
	user, rest := s[:at], s[at+1:]
	if user == "" {
		return Host{}, fmt.Errorf("host %q has an empty user before the @: %s", s, hostForm)
	}
	if rest == "" {
		return Host{}, fmt.Errorf("host %q has no address after the @: %s", s, hostForm)
	}
	addr, port, hasPort := rest, "", false
	switch {
	case strings.HasPrefix(rest, "["):
		end := strings.Index(rest, "]")
		if end < 0 {
			return Host{}, fmt.Errorf("host %q opens a [ it does not close: write an IPv6 address as user@[addr]:port", s)
		}
		addr = rest[1:end]
		switch tail := rest[end+1:]; {
		case tail == "":
		case strings.HasPrefix(tail, ":"):
			port, hasPort = tail[1:], true
		default:
			return Host{}, fmt.Errorf("host %q has %q after its ]: write an IPv6 address as user@[addr]:port", s, tail)
		}
		if net.ParseIP(addr) == nil {
			return Host{}, fmt.Errorf("host %q has %q in brackets, which is not an IP address: %s", s, addr, hostForm)
		}
	case strings.Count(rest, ":") > 1: // a bare IPv6 address, port 22
		if net.ParseIP(rest) == nil {
			return Host{}, fmt.Errorf("host %q has more than one colon: write an IPv6 address as user@[addr]:port", s)
		}
	case strings.Contains(rest, ":"):
		addr, port, hasPort = strings.Cut(rest, ":")
	}
	if addr == "" {
		return Host{}, fmt.Errorf("host %q has no address before its port: %s", s, hostForm)
	}
	h := Host{User: user, Addr: addr, Port: 22}
	if hasPort {
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return Host{}, fmt.Errorf("host %q has port %q, which is not a number from 1 to 65535", s, port)
		}
		h.Port = p
	}
	return h, nil
}

// ReadHostsFile reads one host per line (user@host[:port]); blank lines
// and everything after a '#' are skipped. A host listed twice (the same
// address and port, whatever the user) is refused, naming both lines.
func ReadHostsFile(path string) ([]Host, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hosts file %s cannot be read (%v): pass an existing file with one user@host[:port] per line", path, err)
	}
	var hosts []Host
	seen := map[string]int{}
	for i, line := range strings.Split(string(b), "\n") {
		if c := strings.IndexByte(line, '#'); c >= 0 {
			line = line[:c]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		h, err := ParseHost(line)
		if err != nil {
			return nil, fmt.Errorf("hosts file %s line %d: %v", path, i+1, err)
		}
		key := strings.ToLower(h.hostport())
		if first, ok := seen[key]; ok {
			return nil, fmt.Errorf("hosts file %s line %d: %s is already on line %d: list each host once", path, i+1, h.hostport(), first)
		}
		seen[key] = i + 1
		hosts = append(hosts, h)
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("hosts file %s lists no hosts: write one user@host[:port] per line", path)
	}
	return hosts, nil
}

// CheckPlatform says whether this jetsam binary can run on a host that
// reported goos/goarch (see Client.Platform): nil when they are this
// binary's own.
func CheckPlatform(h Host, goos, goarch string) error {
	if goos == runtime.GOOS && goarch == runtime.GOARCH {
		return nil
	}
	return fmt.Errorf("host %s runs %s/%s but this jetsam is built for %s/%s: build jetsam for that platform (GOOS=%s GOARCH=%s go build ./cmd/jetsam)",
		h, goos, goarch, runtime.GOOS, runtime.GOARCH, goos, goarch)
}

// unamePlatform maps `uname -s -m` output ("Linux x86_64") to Go's GOOS
// and GOARCH.
func unamePlatform(out string) (goos, goarch string, err error) {
	f := strings.Fields(out)
	if len(f) < 2 {
		return "", "", fmt.Errorf("uname -s -m printed %q, not a system and a machine", strings.TrimSpace(out))
	}
	system, machine := f[0], f[len(f)-1]
	switch system {
	case "Linux":
		goos = "linux"
	case "Darwin":
		goos = "darwin"
	case "FreeBSD":
		goos = "freebsd"
	case "OpenBSD":
		goos = "openbsd"
	case "NetBSD":
		goos = "netbsd"
	case "DragonFly":
		goos = "dragonfly"
	case "SunOS":
		goos = "solaris"
	case "AIX":
		goos = "aix"
	default:
		return "", "", fmt.Errorf("uname -s says %q, a system Go does not build for", system)
	}
	switch m := machine; {
	case m == "x86_64" || m == "amd64":
		goarch = "amd64"
	case m == "i386" || m == "i486" || m == "i586" || m == "i686" || m == "i86pc" || m == "x86":
		goarch = "386"
	case m == "aarch64" || m == "arm64" || m == "aarch64_be":
		goarch = "arm64"
	case m == "arm" || strings.HasPrefix(m, "armv") || m == "armhf" || m == "armel":
		goarch = "arm"
	case m == "riscv64":
		goarch = "riscv64"
	case m == "ppc64le":
		goarch = "ppc64le"
	case m == "ppc64" || m == "powerpc64":
		goarch = "ppc64"
	case m == "s390x":
		goarch = "s390x"
	case m == "loongarch64":
		goarch = "loong64"
	case m == "mips64":
		goarch = "mips64"
	case m == "mips":
		goarch = "mips"
	default:
		return "", "", fmt.Errorf("uname -m says %q, a machine jetsam does not know how to build for", machine)
	}
	return goos, goarch, nil
}

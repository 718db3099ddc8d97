// Command proxybench measures what jetsam's link proxies cost: the latency
// one proxy adds to a message, and the publish throughput of an R3 stream
// whose routes all cross proxies, each against direct connections and
// against toxiproxy in the same run.
//
// Run it through scripts/proxybench.sh, which builds the jetsam binary the
// clusters' nodes run.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"

	"github.com/jetsam-dev/jetsam/node"
	"github.com/jetsam-dev/jetsam/node/proxy"
)

// variants are measured in this order, interleaved, so that drift of the
// machine over the run biases none of them.
// jetsam-framed is jetsam's link reading the route protocol, as in runs
// with raft faults.
var variants = []string{"direct", "jetsam", "jetsam-framed", "toxiproxy"}

type config struct {
	jetsam     string
	roundTrips int
	warmTrips  int
	msgSize    int
	runs       int
	duration   time.Duration
	warmup     time.Duration
	conns      int
	window     int
	payload    int
	dir        string
	cpuprofile string
}

func main() {
	var c config
	flag.StringVar(&c.jetsam, "jetsam", "", "path to the jetsam binary the cluster nodes run (required)")
	flag.IntVar(&c.roundTrips, "n", 20000, "latency: measured round trips per variant")
	flag.IntVar(&c.warmTrips, "warm-trips", 2000, "latency: round trips per variant before measuring")
	flag.IntVar(&c.msgSize, "msg", 64, "latency: bytes per ping")
	flag.IntVar(&c.runs, "runs", 3, "throughput: runs of the three clusters")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "throughput: measured publishing time per cluster")
	flag.DurationVar(&c.warmup, "warmup", 2*time.Second, "throughput: publishing time before measuring")
	flag.IntVar(&c.conns, "conns", 4, "throughput: publishing connections, spread over the nodes")
	flag.IntVar(&c.window, "window", 256, "throughput: unacknowledged publishes per connection")
	flag.IntVar(&c.payload, "size", 128, "throughput: bytes per message")
	flag.StringVar(&c.dir, "dir", "", "where the nodes' data goes (default: a fresh temporary dir, removed at the end)")
	flag.StringVar(&c.cpuprofile, "cpuprofile", "", "write a CPU profile of this process (clients and proxies) to this file")
	flag.Parse()
	log.SetFlags(log.Ltime)
	log.SetPrefix("proxybench: ")
	if c.jetsam == "" || flag.NArg() > 0 || c.roundTrips < 1 || c.warmTrips < 0 || c.msgSize < 1 ||
		c.runs < 1 || c.duration <= 0 || c.warmup < 0 || c.conns < 1 || c.window < 1 || c.payload < 1 {
		flag.Usage()
		os.Exit(2)
	}
	// Nodes run in their own process groups, so Ctrl-C reaches only us and
	// the deferred cleanup stops them.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, c)
	stop()
	if err != nil {
		log.Printf("error: %v", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) error {
	if _, err := os.Stat(c.jetsam); err != nil {
		return fmt.Errorf("jetsam binary: %w", err)
	}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "proxybench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		c.dir = d
	}
	if c.cpuprofile != "" {
		f, err := os.Create(c.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	// toxiproxy logs every connection through zerolog, some of it through
	// the global logger.
	zerolog.SetGlobalLevel(zerolog.Disabled)

	began := time.Now()
	log.Printf("load average at start: %s", loadavg())
	lat, err := latencyBench(ctx, c)
	if err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	tput, err := throughputBench(ctx, c)
	if err != nil {
		return fmt.Errorf("throughput: %w", err)
	}
	log.Printf("done in %s; load average at end: %s", time.Since(began).Round(time.Second), loadavg())
	printTable(os.Stdout, c, lat, tput)
	return nil
}

// toxi makes toxiproxy proxies without toxics, in process, as toxiproxy's
// server would for a POST /proxies.
type toxi struct {
	srv     *toxiproxy.ApiServer
	mu      sync.Mutex
	proxies []*toxiproxy.Proxy
}

func newToxi() *toxi {
	return &toxi{srv: toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())}
}

// listen starts a proxy to target and returns its address.
func (t *toxi) listen(name, target string) (string, error) {
	p := toxiproxy.NewProxy(t.srv, name, "127.0.0.1:0", target)
	if err := p.Start(); err != nil {
		return "", fmt.Errorf("toxiproxy %s: %w", name, err)
	}
	t.mu.Lock()
	t.proxies = append(t.proxies, p)
	t.mu.Unlock()
	return p.Listen, nil
}

func (t *toxi) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.proxies {
		p.Stop()
	}
	t.proxies = nil
}

// latencyResult is one variant's round-trip times.
type latencyResult struct {
	median, p99 time.Duration
}

// latencyBlock is how many round trips one variant makes before the next
// variant's turn.
const latencyBlock = 100

// latencyBench runs ping-pong against an in-process echo server, over one
// connection per variant, in blocks of latencyBlock round trips taken in
// turn: long enough for a connection to run hot, short enough that every
// variant sees the same machine.
func latencyBench(ctx context.Context, c config) (map[string]latencyResult, error) {
	target, stopEcho, err := startEcho()
	if err != nil {
		return nil, err
	}
	// Runs last, once the clients and proxies below have closed their ends.
	defer stopEcho()

	link, err := proxy.Listen("client", "echo", target)
	if err != nil {
		return nil, err
	}
	defer link.Close()
	tx := newToxi()
	defer tx.close()
	toxAddr, err := tx.listen("echo", target)
	if err != nil {
		return nil, err
	}
	framed, err := proxy.Listen("client", "echo", target)
	if err != nil {
		return nil, err
	}
	defer framed.Close()
	framed.Frame()
	addrs := map[string]string{"direct": target, "jetsam": link.Addr(), "jetsam-framed": framed.Addr(), "toxiproxy": toxAddr}

	conns, err := dialVariants(addrs)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, conn := range conns {
			conn.Close()
		}
	}()
	rtts, err := pingPong(ctx, c, conns)
	if err != nil {
		return nil, err
	}
	res := map[string]latencyResult{}
	for _, v := range variants {
		d := rtts[v]
		slices.Sort(d)
		res[v] = latencyResult{median: quantile(d, 0.5), p99: quantile(d, 0.99)}
		log.Printf("latency: %-9s RTT median %s p99 %s", v, res[v].median, res[v].p99)
	}
	return res, nil
}

// startEcho starts a TCP server that sends back whatever a connection sends
// it, and returns its address. stop closes the server and every connection
// it accepted, and waits for their goroutines.
func startEcho() (addr string, stop func(), err error) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var accepted []net.Conn
	stop = func() {
		echo.Close()
		mu.Lock()
		for _, conn := range accepted {
			conn.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := echo.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted = append(accepted, conn)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(conn, conn)
				conn.Close()
			}()
		}
	}()
	return echo.Addr().String(), stop, nil
}

// dialVariants opens one connection per variant to its address. On an
// error it closes those it opened.
func dialVariants(addrs map[string]string) (map[string]net.Conn, error) {
	conns := map[string]net.Conn{}
	for _, v := range variants {
		conn, err := net.Dial("tcp", addrs[v])
		if err != nil {
			for _, conn := range conns {
				conn.Close()
			}
			return nil, fmt.Errorf("%s: %w", v, err)
		}
		conns[v] = conn
	}
	return conns, nil
}

// pingPong makes c.warmTrips and then c.roundTrips round trips over each
// variant's connection, the variants taking turns by blocks, and returns
// the measured round trips' times by variant.
func pingPong(ctx context.Context, c config, conns map[string]net.Conn) (map[string][]time.Duration, error) {
	// Each ping is one route protocol message, so the framed link reads it
	// as it would a route's.
	out := routeMessage(c.msgSize)
	in := make([]byte, len(out))
	rtts := map[string][]time.Duration{}
	log.Printf("latency: %d warm-up and %d measured round trips of %d bytes per variant", c.warmTrips, c.roundTrips, c.msgSize)
	for done := -c.warmTrips; done < c.roundTrips; done += latencyBlock {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		for _, v := range variants {
			conn := conns[v]
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			// Trips numbered below 0 are the warm-up, not recorded.
			for i := done; i < done+latencyBlock && i < c.roundTrips; i++ {
				t0 := time.Now()
				if _, err := conn.Write(out); err != nil {
					return nil, fmt.Errorf("%s: %w", v, err)
				}
				if _, err := io.ReadFull(conn, in); err != nil {
					return nil, fmt.Errorf("%s: %w", v, err)
				}
				if i >= 0 {
					rtts[v] = append(rtts[v], time.Since(t0))
				}
			}
		}
	}
	return rtts, nil
}

// routeMessage is an RMSG unit of about size bytes in all.
func routeMessage(size int) []byte {
	head := "RMSG $G ping "
	body := max(size-len(head)-8, 1)
	msg := fmt.Sprintf("%s%d\r\n%s\r\n", head, body, strings.Repeat("x", body))
	return []byte(msg)
}

// quantile of sorted values, nearest rank.
func quantile[T ~int64 | ~float64](sorted []T, q float64) T {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// cpuModel is the first model name in /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// memTotal is the machine's memory, from /proc/meminfo.
func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "? GiB"
	}
	var kb int64
	for _, line := range strings.Split(string(b), "\n") {
		if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
			break
		}
	}
	return fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
}

func printTable(w io.Writer, c config, lat map[string]latencyResult, tput map[string][]runResult) {
	us := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/1e3) }
	fmt.Fprintf(w, "\n## Link proxy cost\n\n")
	// The flags that were set, but not -jetsam: its path is a temporary one.
	var set []string
	flag.Visit(func(f *flag.Flag) {
		if f.Name != "jetsam" {
			set = append(set, "-"+f.Name+" "+f.Value.String())
		}
	})
	fmt.Fprintf(w, "`%s`\n\n", strings.Join(append([]string{"bash scripts/proxybench.sh"}, set...), " "))
	fmt.Fprintf(w, "Machine: %d CPUs (%s), %s, %s/%s, %s, nats-server %s (%s).\n\n",
		runtime.NumCPU(), cpuModel(), memTotal(), runtime.GOOS, runtime.GOARCH, runtime.Version(), node.ServerVersion,
		time.Now().Format("2006-01-02"))

	fmt.Fprintf(w, "One TCP connection, %d-byte ping-pong with an in-process echo server, %d round trips per variant:\n\n",
		c.msgSize, c.roundTrips)
	fmt.Fprintf(w, "| route | RTT median (µs) | RTT p99 (µs) | added one-way per message, median (µs) |\n|---|---|---|---|\n")
	for _, v := range variants {
		added := "–"
		if v != "direct" {
			added = us((lat[v].median - lat["direct"].median) / 2)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", v, us(lat[v].median), us(lat[v].p99), added)
	}

	fmt.Fprintf(w, "\nR3 file stream on a 3-node cluster (leader moved to %s), %d connections spread over the nodes publishing %d-byte messages, "+
		"%d in flight each; acked msgs/s over %s after %s warm-up; %d runs, one cluster at a time, variants in turn:\n\n",
		streamLeader, c.conns, c.payload, c.window, c.duration, c.warmup, c.runs)
	fmt.Fprintf(w, "| routes | acked msgs/s (each run) | median | ratio to direct (median) | ratio per run | cores used by clients + proxies | CPU µs per acked msg, all processes |\n|---|---|---|---|---|---|---|\n")
	var failures []string
	for _, v := range variants {
		var runs, ratios []string
		var rates, cores, perMsg []float64
		for i, r := range tput[v] {
			runs = append(runs, fmt.Sprintf("%.0f", r.rate))
			ratios = append(ratios, fmt.Sprintf("%.2f", r.rate/tput["direct"][i].rate))
			rates = append(rates, r.rate)
			cores = append(cores, r.selfCores)
			perMsg = append(perMsg, float64(r.cpuPerMsg)/1e3)
			if r.failed > 0 {
				failures = append(failures, fmt.Sprintf("%s run %d: %d", v, i+1, r.failed))
			}
		}
		fmt.Fprintf(w, "| %s | %s | %.0f | %.2f | %s | %.2f | %.1f |\n", v, strings.Join(runs, ", "), median(rates),
			median(rates)/directMedian(tput), strings.Join(ratios, ", "), median(cores), median(perMsg))
	}
	var busy []float64
	for _, rs := range tput {
		for _, r := range rs {
			busy = append(busy, 100*r.busy)
		}
	}
	fmt.Fprintf(w, "\nThe machine was %.0f–%.0f%% busy while measuring. Cores and CPU per message are medians; "+
		"the proxies run in the benchmark process with the clients, so the cores it used above direct's are the proxies' cost.\n", slices.Min(busy), slices.Max(busy))
	if len(failures) > 0 {
		fmt.Fprintf(w, "\nPublishes the stream refused (not counted): %s.\n", strings.Join(failures, "; "))
	}
}

func directMedian(tput map[string][]runResult) float64 {
	var rates []float64
	for _, r := range tput["direct"] {
		rates = append(rates, r.rate)
	}
	return median(rates)
}

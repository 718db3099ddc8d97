// Package fuzzseed gives the fuzz tests their seed corpora: pieces of real
// histories (jetsam's recorded ones in checker/testdata, Jepsen's in
// Porcupine's test_data), small enough for the fuzzer to mutate quickly.
package fuzzseed

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Synthetic is a small history with what the recorded ones lack: every
// kv operation with each outcome, a log's conditional appends and
// read-alls, a queue, an observer's second reply, a recovery and the end
// of the final phase.
const Synthetic = `{"index":0,"time":1000,"type":"invoke","process":0,"f":"write","workload":"kv","node":"n1","key":"k0","value":"0-1"}
{"index":1,"time":2000,"type":"ok","process":0,"f":"write","workload":"kv","node":"n1","key":"k0","value":"0-1","rev":1}
{"index":2,"time":3000,"type":"invoke","process":1,"f":"cas","workload":"kv","node":"n2","key":"k0","value":"1-1","expect_rev":1}
{"index":3,"time":3500,"type":"invoke","process":"nemesis","f":"partition","fault":{"action":"start","shape":"one","groups":[["n1"],["n2","n3"]],"nodes":["n1"]}}
{"index":4,"time":4000,"type":"info","process":"nemesis","f":"partition","fault":{"action":"start","shape":"one","groups":[["n1"],["n2","n3"]],"nodes":["n1"]},"links":[{"from":"n1","to":"n2","bytes_fwd":10,"bytes_rev":20,"conns":1}]}
{"index":5,"time":5000,"type":"fail","process":1,"f":"cas","workload":"kv","node":"n2","key":"k0","value":"1-1","expect_rev":1,"error":"wrong last sequence: 2"}
{"index":6,"time":5100,"type":"ok","process":"observer","f":"reply","of":2,"rev":2}
{"index":7,"time":6000,"type":"invoke","process":2,"f":"create","workload":"kv","node":"n3","key":"k1","value":"2-1"}
{"index":8,"time":7000,"type":"info","process":2,"f":"create","workload":"kv","node":"n3","key":"k1","value":"2-1","error":"timeout"}
{"index":9,"time":7500,"type":"invoke","process":3,"f":"delete","workload":"kv","node":"n1","key":"k0"}
{"index":10,"time":7600,"type":"ok","process":3,"f":"delete","workload":"kv","node":"n1","key":"k0","rev":3}
{"index":11,"time":8000,"type":"invoke","process":4,"f":"read","workload":"kv","node":"n2","key":"k0","read_mode":"direct"}
{"index":12,"time":9000,"type":"ok","process":4,"f":"read","workload":"kv","node":"n2","key":"k0","value":"1-1","rev":2,"read_mode":"direct"}
{"index":13,"time":9100,"type":"invoke","process":5,"f":"append","workload":"log","node":"n1","value":"5-1","expect_rev":0}
{"index":14,"time":9200,"type":"ok","process":5,"f":"append","workload":"log","node":"n1","value":"5-1","expect_rev":0,"rev":1}
{"index":15,"time":9300,"type":"invoke","process":6,"f":"read","workload":"log","node":"n2","rev":1,"read_mode":"leader"}
{"index":16,"time":9400,"type":"ok","process":6,"f":"read","workload":"log","node":"n2","rev":1,"value":"5-1","read_mode":"leader"}
{"index":17,"time":9500,"type":"invoke","process":7,"f":"enqueue","workload":"queue","node":"n3","value":"7-1"}
{"index":18,"time":9600,"type":"ok","process":7,"f":"enqueue","workload":"queue","node":"n3","value":"7-1","rev":1}
{"index":19,"time":9700,"type":"invoke","process":8,"f":"dequeue","workload":"queue","node":"n1"}
{"index":20,"time":9800,"type":"ok","process":8,"f":"dequeue","workload":"queue","node":"n1","values":["7-1"],"acked":["7-1"],"deliveries":[{"s":1,"n":1}]}
{"index":21,"time":10000,"type":"invoke","process":"nemesis","f":"partition","fault":{"action":"stop","shape":"one","groups":[["n1"],["n2","n3"]],"nodes":["n1"]}}
{"index":22,"time":11000,"type":"info","process":"nemesis","f":"partition","fault":{"action":"stop","shape":"one","groups":[["n1"],["n2","n3"]],"nodes":["n1"]}}
{"index":23,"time":12000,"type":"info","process":"nemesis","f":"recovery","recovery":{"recovered":true,"began":11000,"timeout":60000000000,"nodes":[{"node":"n1","running":true,"routes":2,"meta_leader":"n1"}],"streams":[{"stream":"KV_jetsam","workload":"kv","leader":"n1","replicas":[{"node":"n1","answered":true,"present":true,"leader":"n1","last_seq":3}]}]}}
{"index":24,"time":13000,"type":"invoke","process":9,"f":"read","workload":"kv","node":"n1","key":"k0","read_mode":"leader","phase":"final"}
{"index":25,"time":14000,"type":"ok","process":9,"f":"read","workload":"kv","node":"n1","key":"k0","read_mode":"leader","phase":"final","rev":3}
{"index":26,"time":14100,"type":"invoke","process":10,"f":"read-all","workload":"log","node":"n1","read_mode":"leader","phase":"final"}
{"index":27,"time":14200,"type":"ok","process":10,"f":"read-all","workload":"log","node":"n1","read_mode":"leader","phase":"final","rev":1,"log":[{"s":1,"v":"5-1"}]}
{"index":28,"time":15000,"type":"info","process":"nemesis","f":"final-done"}
{"index":29,"time":15100,"type":"info","process":"nemesis","f":"links","links":[{"from":"n1","to":"n2","bytes_fwd":30,"bytes_rev":40,"conns":2}]}
`

// Histories are the synthetic history and windows of the recorded ones:
// their start, their first fault, their final phase.
func Histories() ([][]byte, error) {
	out := [][]byte{[]byte(Synthetic)}
	paths, err := filepath.Glob(filepath.Join(root(), "checker", "testdata", "*.jsonl.gz"))
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		lines, err := gunzipLines(p)
		if err != nil {
			return nil, err
		}
		fault := len(lines) / 2
		for i, l := range lines {
			if strings.Contains(l, `"process":"nemesis"`) {
				fault = i
				break
			}
		}
		for _, w := range [][2]int{{0, 20}, {fault - 10, fault + 10}, {len(lines) - 12, len(lines)}} {
			lo, hi := max(w[0], 0), min(w[1], len(lines))
			out = append(out, []byte(strings.Join(lines[lo:hi], "\n")+"\n"))
		}
	}
	return out, nil
}

// Jepsen are pieces of Porcupine's Jepsen histories (its etcd register
// logs and key-value op maps), when its module is downloaded, and an EDN
// history with times and a nemesis.
func Jepsen() [][]byte {
	out := [][]byte{[]byte(`{:process 0, :type :invoke, :f :put, :key "0", :value "a", :time 1500}
{:process :nemesis, :type :info, :f :start, :value [:isolated {"n1" ["n2"]}], :time 1600}
{:process 0, :type :ok, :f :put, :key "0", :value "a", :time 2500}
{:process 1, :type :invoke, :f :append, :key "0", :value "b", :time 2600}
{:process 1, :type :info, :f :append, :key "0", :value :timed-out, :time 2700}
{:process :nemesis, :type :info, :f :stop, :value nil, :time 2800}
{:process 2, :type :invoke, :f :get, :key "0", :value nil, :time 3000}
{:process 2, :type :ok, :f :get, :key "0", :value "ab", :time 9000}
`)}
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/anishathalye/porcupine").Output()
	if err != nil || len(bytes.TrimSpace(dir)) == 0 {
		return out
	}
	data := filepath.Join(string(bytes.TrimSpace(dir)), "test_data")
	for _, f := range []string{"jepsen/etcd_000.log", "jepsen/etcd_002.log", "kv/c01-ok.txt", "kv/c01-bad.txt"} {
		b, err := os.ReadFile(filepath.Join(data, f))
		if err != nil {
			continue
		}
		out = append(out, b[:min(len(b), 2<<10)])
	}
	return out
}

// root is the repository's folder.
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func gunzipLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(z)
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n"), nil
}

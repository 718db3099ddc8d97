package results

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jetsam-dev/jetsam/checker"
)

// RunSummary is one run of a store, as the index lists it.
type RunSummary struct {
	Path     string // relative to the store: name/time
	Name     string
	Started  time.Time
	Verdict  string // valid, invalid, unknown, or "no result" for a run that never checked
	Workload string
	Faults   string
	OK       int
	Ops      int
	Duration string
	Report   bool
	Files    []string
}

// ListRuns finds every run folder below store (store/<name>/<time>/ with a
// test.json or results.json), newest first.
func ListRuns(store string) ([]RunSummary, error) {
	names, err := os.ReadDir(store)
	if err != nil {
		return nil, err
	}
	var out []RunSummary
	for _, n := range names {
		if !n.IsDir() || !ValidName(n.Name()) {
			continue
		}
		runs, _ := os.ReadDir(filepath.Join(store, n.Name()))
		for _, r := range runs {
			if !r.IsDir() {
				continue
			}
			dir := filepath.Join(store, n.Name(), r.Name())
			if s, ok := summarize(dir, n.Name(), r.Name()); ok {
				out = append(out, s)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Started.Equal(out[j].Started) {
			return out[i].Started.After(out[j].Started)
		}
		return out[i].Path > out[j].Path
	})
	return out, nil
}

func summarize(dir, name, stamp string) (RunSummary, bool) {
	s := RunSummary{Path: name + "/" + stamp, Name: name, Verdict: "no result"}
	var ti TestInfo
	hasTest := ReadJSON(filepath.Join(dir, TestFile), &ti) == nil
	var res checker.Result
	hasRes := ReadJSON(filepath.Join(dir, ResultsFile), &res) == nil
	if !hasTest && !hasRes {
		return s, false
	}
	if t, err := time.Parse(TimeFormat, stamp); err == nil {
		s.Started = t
	}
	if hasTest {
		s.Started = ti.Started
		var cfg struct {
			Workload string   `json:"workload"`
			Nemesis  []string `json:"nemesis"`
		}
		_ = json.Unmarshal(ti.Config, &cfg)
		s.Workload, s.Faults = cfg.Workload, strings.Join(cfg.Nemesis, ", ")
		if !ti.Run.Ended.IsZero() {
			s.Duration = ti.Run.Ended.Sub(ti.Started).Round(time.Second).String()
		}
	}
	if s.Faults == "" {
		s.Faults = "none"
	}
	if hasRes {
		s.Verdict = res.Valid.String()
		s.OK, s.Ops = res.Ops.OK, res.Ops.OK+res.Ops.Fail+res.Ops.Info
	}
	_, err := os.Stat(filepath.Join(dir, ReportFile))
	s.Report = err == nil
	for _, f := range []string{TestFile, HistoryFile, ResultsFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			s.Files = append(s.Files, f)
		}
	}
	return s, true
}

// The policies of serve's responses. Everything but jetsam's own pages is
// text and may load, run or frame nothing. The pages may style themselves
// inline; a report's diagrams are Porcupine's pages in sandboxed srcdoc
// frames, which inherit the report's policy, so inline scripts are allowed
// there, and the report is itself sandboxed (an opaque origin): a script
// in a tampered report can read nothing else of the store.
const (
	textPolicy    = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; sandbox"
	pagePolicy    = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; sandbox"
	reportPolicy  = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; sandbox allow-scripts"
	textType      = "text/plain; charset=utf-8"
	htmlType      = "text/html; charset=utf-8"
	maxKeyFileLen = 1 << 20
)

// pages are the HTML files jetsam writes into a folder, with their policy.
var pages = map[string]string{ReportFile: reportPolicy, CompareHTML: pagePolicy}

// Server serves a store: an index of its runs at /, and under /runs/ each
// run's pages (report.html, compare.html) and the raw files its report
// lists, nothing else: no private key, nothing outside the store (also
// through a symbolic link). Everything but the pages is text/plain, and
// every response forbids sniffing and carries a Content-Security-Policy.
// A request is answered only when its Host is one of addrs (host:port, as
// served) or a loopback name with one of their ports, so a page of
// another site cannot reach the store by rebinding its name to this
// machine.
func Server(store string, addrs ...string) (http.Handler, error) {
	abs, err := filepath.Abs(store)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", store, err)
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, fmt.Errorf("store %s: %w", store, err)
	}
	hosts, err := allowedHosts(addrs)
	if err != nil {
		return nil, err
	}
	s := storeServer{root: abs}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("GET /runs/{name}/{stamp}/{file...}", s.runFile)
	return guard(hosts, mux), nil
}

// guard sets the headers every response carries and refuses a request
// addressed to any other host.
func guard(hosts map[string]bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", textPolicy)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if !hosts[hostKey(r.Host)] {
			http.Error(w, "jetsam serve answers only requests addressed to the address it serves", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allowedHosts is every Host header serve answers, as hostKey writes it.
// An address on every interface is reached by any of this machine's
// addresses or its name.
func allowedHosts(addrs []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			return nil, fmt.Errorf("serve address %q: %w", a, err)
		}
		names := []string{host, "localhost", "127.0.0.1", "::1"}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			names = append(names, machineNames()...)
		}
		for _, n := range names {
			out[hostKey(net.JoinHostPort(n, port))] = true
		}
	}
	if len(out) == 0 {
		return nil, errors.New("serve needs the address it serves, to check each request's Host")
	}
	return out, nil
}

// machineNames are this machine's host name and interface addresses.
func machineNames() []string {
	var out []string
	if h, err := os.Hostname(); err == nil {
		out = append(out, h)
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			out = append(out, n.IP.String())
		}
	}
	return out
}

// hostKey normalises a Host header: lower case, with its port (80 when a
// browser leaves it out).
func hostKey(h string) string {
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		host, port = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), "80"
	}
	return net.JoinHostPort(strings.ToLower(host), port)
}

type storeServer struct{ root string }

func (s storeServer) index(w http.ResponseWriter, r *http.Request) {
	runs, err := ListRuns(s.root)
	if err != nil {
		http.Error(w, "cannot read the store: "+err.Error(), http.StatusInternalServerError)
		return
	}
	filter := r.URL.Query().Get("verdict")
	d := indexData{Store: s.root, Filter: filter, Total: len(runs)}
	for _, run := range runs {
		if filter == "" || run.Verdict == filter {
			d.Runs = append(d.Runs, run)
		}
	}
	var buf bytes.Buffer
	if err := indexTemplate.Execute(&buf, d); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Security-Policy", pagePolicy)
	w.Header().Set("Content-Type", htmlType)
	_, _ = w.Write(buf.Bytes())
}

// runFile serves /runs/<name>/<time>/<file>: a page of the folder, or a
// file its report lists.
func (s storeServer) runFile(w http.ResponseWriter, r *http.Request) {
	name, stamp, file := r.PathValue("name"), r.PathValue("stamp"), r.PathValue("file")
	dir := filepath.Join(s.root, name, stamp)
	policy, page := pages[file]
	if !ValidName(name) || !ValidName(stamp) || (!page && !slices.Contains(listFiles(dir), filepath.FromSlash(file))) {
		http.NotFound(w, r)
		return
	}
	f, fi, err := s.open(filepath.Join(dir, filepath.FromSlash(file)), page)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", textType)
	if page {
		w.Header().Set("Content-Type", htmlType)
		w.Header().Set("Content-Security-Policy", policy)
	}
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

// open opens a regular file of the store that is no private key. A page
// must be the file jetsam wrote, not a link to another.
func (s storeServer) open(p string, page bool) (*os.File, os.FileInfo, error) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return nil, nil, fmt.Errorf("resolve %s: %w", p, err)
	}
	if !strings.HasPrefix(real, s.root+string(filepath.Separator)) {
		return nil, nil, fmt.Errorf("%s is outside the store", p)
	}
	if lfi, err := os.Lstat(p); err != nil || (page && !lfi.Mode().IsRegular()) {
		return nil, nil, fmt.Errorf("%s is not a page jetsam wrote", p)
	}
	if privateKey(p) || privateKey(real) {
		return nil, nil, fmt.Errorf("%s holds a private key", p)
	}
	f, err := os.Open(real)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", p, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = errors.New("not a regular file")
	}
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", p, err)
	}
	return f, fi, nil
}

// privateKey reports whether a file is or may be a private key: any .key,
// and a .pem that holds one (or is too large to look through).
func privateKey(p string) bool {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".key":
		return true
	case ".pem":
		f, err := os.Open(p)
		if err != nil {
			return true
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxKeyFileLen+1))
		return err != nil || len(b) > maxKeyFileLen || bytes.Contains(b, []byte("PRIVATE KEY"))
	}
	return false
}

type indexData struct {
	Store  string
	Filter string
	Total  int
	Runs   []RunSummary
}

var indexTemplate = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>jetsam runs</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:16px 24px;color:#1b1f24}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eaeef2;padding:4px 10px 4px 0;text-align:left}
.valid{color:#fff;background:#1f883d}.invalid{color:#fff;background:#cf222e}.unknown{color:#fff;background:#9a6700}
.verdict{padding:1px 6px;border-radius:4px;font-weight:600}nav a{margin-right:12px}
</style></head><body>
<h1>jetsam runs</h1><p><small>{{.Store}}</small></p>
<nav>Show: <a href="/">all ({{.Total}})</a><a href="/?verdict=invalid">invalid</a><a href="/?verdict=unknown">unknown</a><a href="/?verdict=valid">valid</a></nav>
{{if .Runs}}<table id="runs"><tr><th>run</th><th>started</th><th>verdict</th><th>workload</th><th>faults</th><th>ok / ops</th><th>took</th><th>files</th></tr>
{{range .Runs}}<tr class="run"><td>{{if .Report}}<a href="/runs/{{.Path}}/report.html">{{.Path}}</a>{{else}}{{.Path}}{{end}}</td>
<td>{{.Started.Format "2006-01-02 15:04:05"}}</td><td><span class="verdict {{.Verdict}}">{{.Verdict}}</span></td><td>{{.Workload}}</td><td>{{.Faults}}</td>
<td>{{.OK}} / {{.Ops}}</td><td>{{.Duration}}</td><td>{{$p := .Path}}{{range .Files}}<a href="/runs/{{$p}}/{{.}}">{{.}}</a> {{end}}</td></tr>
{{end}}</table>{{else}}<p>No runs{{if .Filter}} with verdict {{.Filter}}{{end}}.</p>{{end}}
</body></html>
`))

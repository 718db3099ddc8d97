package results

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"os"
	"path/filepath"
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

// Server serves a store: an index of its runs at /, and the runs' files
// under /runs/. Nothing outside the store is ever served, also through a
// symbolic link.
func Server(store string) (http.Handler, error) {
	abs, err := filepath.Abs(store)
	if err != nil {
		return nil, err
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		runs, err := ListRuns(abs)
		if err != nil {
			http.Error(w, "cannot read the store: "+err.Error(), http.StatusInternalServerError)
			return
		}
		filter := r.URL.Query().Get("verdict")
		d := indexData{Store: abs, Filter: filter, Total: len(runs)}
		for _, s := range runs {
			if filter == "" || s.Verdict == filter {
				d.Runs = append(d.Runs, s)
			}
		}
		var buf bytes.Buffer
		if err := indexTemplate.Execute(&buf, d); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(buf.Bytes())
	})
	mux.HandleFunc("GET /runs/{path...}", func(w http.ResponseWriter, r *http.Request) {
		p := filepath.Join(abs, filepath.FromSlash(r.PathValue("path")))
		real, err := filepath.EvalSymlinks(p)
		if err != nil || (real != abs && !strings.HasPrefix(real, abs+string(filepath.Separator))) {
			http.NotFound(w, r)
			return
		}
		fi, err := os.Stat(real)
		if err != nil || fi.IsDir() {
			http.NotFound(w, r)
			return
		}
		if strings.HasSuffix(real, ".jsonl") || strings.HasSuffix(real, ".log") || strings.HasSuffix(real, ".conf") {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		}
		http.ServeFile(w, r, real)
	})
	return mux, nil
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

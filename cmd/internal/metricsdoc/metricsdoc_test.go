package metricsdoc

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/cmd/internal/service"
)

func TestRecorderCountsEmptyVectors(t *testing.T) {
	reg := prometheus.NewRegistry()
	rec := NewRecorder(reg)
	rec.MustRegister(
		prometheus.NewCounterVec(prometheus.CounterOpts{Name: "t_requests_total", Help: "h"}, []string{"route", "code"}),
		prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "t_duration_seconds", Help: "h"}, []string{"route"}),
		prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "t_lag", Help: "h", ConstLabels: prometheus.Labels{"group": "g"}}, []string{"stream"}),
		prometheus.NewGauge(prometheus.GaugeOpts{Name: "t_open", Help: "h"}),
		prometheus.NewHistogram(prometheus.HistogramOpts{Name: "t_batch", Help: "h"}),
	)
	for _, result := range []string{"hit", "miss"} {
		rec.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "t_reads_total", Help: "h", ConstLabels: prometheus.Labels{"family": "f", "result": result},
		}, func() float64 { return 1 }))
	}
	gathered, err := Gathered(reg)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"t_batch", "t_open", "t_reads_total"}; !slices.Equal(gathered, want) {
		t.Fatalf("Gather = %v, want %v (empty vectors left out)", gathered, want)
	}
	got, err := Registered(rec, reg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Family{
		"t_requests_total":   {"t_requests_total", "counter", []string{"code", "route"}},
		"t_duration_seconds": {"t_duration_seconds", "histogram", []string{"route"}},
		"t_lag":              {"t_lag", "gauge", []string{"group", "stream"}},
		"t_open":             {"t_open", "gauge", nil},
		"t_batch":            {"t_batch", "histogram", nil},
		"t_reads_total":      {"t_reads_total", "counter", []string{"family", "result"}},
	}
	if len(got) != len(want) {
		t.Errorf("got %d families, want %d: %v", len(got), len(want), got)
	}
	for name, w := range want {
		g := got[name]
		if g.Name != w.Name || g.Type != w.Type || !slices.Equal(g.Labels, w.Labels) {
			t.Errorf("%s = %+v, want %+v", name, g, w)
		}
	}

	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "t_gone_total", Help: "h"})
	rec.MustRegister(c)
	if !rec.Unregister(c) {
		t.Fatal("Unregister = false")
	}
	if fams, _ := rec.Families(); slices.Contains(keys(fams), "t_gone_total") {
		t.Error("an unregistered collector is still recorded")
	}
}

func keys(m map[string]Family) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestParseDesc(t *testing.T) {
	d := prometheus.NewDesc("a_b", `help with "quotes", constLabels: {x}`, []string{"v1", "v2"}, prometheus.Labels{"c": `va,l"}ue`})
	name, labels, err := parseDesc(d.String())
	if err != nil {
		t.Fatal(err)
	}
	if name != "a_b" || !slices.Equal(labels, []string{"c", "v1", "v2"}) {
		t.Errorf("parseDesc(%s) = %q, %v", d, name, labels)
	}
}

const fixture = "# Metrics\n\n" +
	"| metric | type | labels | exposed by | meaning |\n" +
	"|---|---|---|---|---|\n" +
	"| `go_*` | various | various | `orderflow-api`, `orderflow-relay` | runtime |\n" +
	"| `orderflow_shared_total` | counter | `family` | orderflow-api, orderflow-relay (registered, empty) | both |\n\n" +
	"## orderflow-api\n\n" +
	"### HTTP\n\n" +
	"| metric | type | labels | meaning |\n" +
	"|---|---|---|---|\n" +
	"| `orderflow_api_requests_total` | counter | `method`, `route` | uses `a|b` in text |\n" +
	"| `orderflow_api_seconds` | histogram | — | latency |\n\n" +
	"```\n| metric | type | labels | meaning |\n| `fenced_total` | counter | — | ignored |\n```\n\n" +
	"| binary | address |\n|---|---|\n| `not_a_metric` | x |\n\n" +
	"## orderflow-relay\n\n" +
	"| metric | type | labels | meaning |\n" +
	"|---|---|---|---|\n" +
	"| `orderflow_relay_active` | gauge | — | 1 or 0 |\n"

func writeFixture(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "metrics.md")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseDoc(t *testing.T) {
	doc, err := ParseDoc(writeFixture(t, fixture))
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		name     string
		group    bool
		typ      string
		labels   string
		binaries string
	}
	var got []row
	for _, r := range doc.Rows {
		got = append(got, row{r.Name, r.Group, r.Type, strings.Join(r.Labels, ","), strings.Join(r.Binaries, ",")})
	}
	want := []row{
		{"go_", true, "", "", "orderflow-api,orderflow-relay"},
		{"orderflow_shared_total", false, "counter", "family", "orderflow-api,orderflow-relay"},
		{"orderflow_api_requests_total", false, "counter", "method,route", "orderflow-api"},
		{"orderflow_api_seconds", false, "histogram", "", "orderflow-api"},
		{"orderflow_relay_active", false, "gauge", "", "orderflow-relay"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("rows:\n got %v\nwant %v", got, want)
	}
}

func TestParseDocRejects(t *testing.T) {
	head := "## orderflow-api\n\n| metric | type | labels | meaning |\n|---|---|---|---|\n"
	for name, text := range map[string]string{
		"no backticks":   head + "| api_total | counter | — | x |\n",
		"two names":      head + "| `orderflow_a_total` `orderflow_b_total` | counter | — | x |\n",
		"unknown type":   head + "| `orderflow_a_total` | count | — | x |\n",
		"label value":    head + "| `orderflow_a_total` | counter | `result=\"hit\"` | x |\n",
		"orderflow glob": head + "| `orderflow_cache_*` | various | various | x |\n",
		"cell count":     head + "| `orderflow_a_total` | counter | — |\n",
		"duplicate":      head + "| `orderflow_a_total` | counter | — | x |\n| `orderflow_a_total` | counter | — | y |\n",
		"no binary":      "## Cache\n\n| metric | type | labels | meaning |\n|---|---|---|---|\n| `orderflow_a_total` | counter | — | x |\n",
		"no table":       "# Metrics\n",
	} {
		if _, err := ParseDoc(writeFixture(t, text)); err == nil {
			t.Errorf("%s: ParseDoc accepted it", name)
		}
	}
	// A level-2 heading without a binary ends the previous one's section.
	text := head + "| `orderflow_a_total` | counter | — | x |\n\n## Other\n\n| metric | type | labels | meaning |\n|---|---|---|---|\n| `orderflow_b_total` | counter | — | x |\n"
	if _, err := ParseDoc(writeFixture(t, text)); err == nil || !strings.Contains(err.Error(), "orderflow_b_total") {
		t.Errorf("a row under a heading naming no binary: err = %v", err)
	}
}

func TestCheck(t *testing.T) {
	doc, err := ParseDoc(writeFixture(t, fixture))
	if err != nil {
		t.Fatal(err)
	}
	good := map[string]Family{
		"go_goroutines":                {Name: "go_goroutines", Type: "gauge"},
		"orderflow_shared_total":       {Name: "orderflow_shared_total", Type: "counter", Labels: []string{"family"}},
		"orderflow_api_requests_total": {Name: "orderflow_api_requests_total", Type: "counter", Labels: []string{"method", "route"}},
		"orderflow_api_seconds":        {Name: "orderflow_api_seconds", Type: "histogram"},
	}
	if errs := doc.Check("orderflow-api", good); len(errs) > 0 {
		t.Errorf("Check(good) = %v", errs)
	}
	with := func(change func(map[string]Family)) map[string]Family {
		m := make(map[string]Family)
		for k, v := range good {
			m[k] = v
		}
		change(m)
		return m
	}
	for name, tc := range map[string]struct {
		registered map[string]Family
		want       string
	}{
		"undocumented": {with(func(m map[string]Family) {
			m["orderflow_api_new_total"] = Family{Name: "orderflow_api_new_total", Type: "counter"}
		}), "`orderflow_api_new_total`"},
		"documented for another binary only": {with(func(m map[string]Family) {
			m["orderflow_relay_active"] = Family{Name: "orderflow_relay_active", Type: "gauge"}
		}), "`orderflow_relay_active`"},
		"not registered": {with(func(m map[string]Family) { delete(m, "orderflow_api_seconds") }), "`orderflow_api_seconds` is listed"},
		"type": {with(func(m map[string]Family) {
			m["orderflow_api_seconds"] = Family{Name: "orderflow_api_seconds", Type: "summary"}
		}), "documented as a histogram"},
		"labels": {with(func(m map[string]Family) {
			m["orderflow_api_requests_total"] = Family{Name: "orderflow_api_requests_total", Type: "counter", Labels: []string{"code", "method", "route"}}
		}), "labels"},
		"group unused":          {with(func(m map[string]Family) { delete(m, "go_goroutines") }), "`go_*`"},
		"process not in groups": {with(func(m map[string]Family) { m["process_open_fds"] = Family{Name: "process_open_fds", Type: "gauge"} }), "`process_open_fds`"},
	} {
		errs := doc.Check("orderflow-api", tc.registered)
		if len(errs) == 0 {
			t.Errorf("%s: Check found nothing", name)
			continue
		}
		if !strings.Contains(errs[0].Error(), tc.want) {
			t.Errorf("%s: Check = %v, want a mention of %s", name, errs, tc.want)
		}
	}
	if errs := doc.Check("orderflow-bench", good); len(errs) == 0 {
		t.Error("Check of an unknown binary passed")
	}
}

func TestCheckExprs(t *testing.T) {
	doc, err := ParseDoc(writeFixture(t, fixture))
	if err != nil {
		t.Fatal(err)
	}
	ok := []string{
		`sum by (route) (rate(orderflow_api_requests_total[5m]))`,
		`histogram_quantile(0.99, sum by (le) (rate(orderflow_api_seconds_bucket[5m])))`,
		`rate(orderflow_api_seconds_sum[5m]) / rate(orderflow_api_seconds_count[5m])`,
		`go_goroutines{job=~"orderflow-api"}`,
	}
	if errs := doc.CheckExprs(ok); len(errs) > 0 {
		t.Errorf("CheckExprs(ok) = %v", errs)
	}
	for _, e := range []string{
		`rate(orderflow_unknown_total[5m])`,
		`orderflow_relay_active_bucket`, // not a histogram
		`process_open_fds`,              // no process_* group in the fixture
		`max(orderflow_api_requests_total) + orderflow_cache_reads_total`,
	} {
		if errs := doc.CheckExprs([]string{e}); len(errs) == 0 {
			t.Errorf("CheckExprs(%q) passed", e)
		}
	}
	// The tokens the dashboard uses: names only, not job or stream label values.
	if got := metricToken.FindAllString(`max by (stream) (orderflow_projector_pending_entries{stream="orderflow:{events}:stream:order", job="orderflow-projector"})`, -1); !slices.Equal(got, []string{"orderflow_projector_pending_entries"}) {
		t.Errorf("tokens = %v", got)
	}
}

func realDoc(t *testing.T) (*Doc, string) {
	t.Helper()
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := ParseDoc(filepath.Join(root, DocPath))
	if err != nil {
		t.Fatal(err)
	}
	return doc, root
}

// TestDocument checks docs/metrics.md on its own: every binary has rows, and
// every metric name written anywhere in it (prose, PromQL) is documented.
func TestDocument(t *testing.T) {
	doc, root := realDoc(t)
	for _, b := range Binaries {
		if len(doc.For(b)) == 0 {
			t.Errorf("%s lists no metric for %s", DocPath, b)
		}
	}
	text, err := os.ReadFile(filepath.Join(root, DocPath))
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range doc.CheckExprs(strings.Split(string(text), "\n")) {
		t.Error(err)
	}
}

// TestDashboard checks deploy/grafana/orderflow-dashboard.json: well-formed,
// importable with a Prometheus data source input, and every query names
// only metrics docs/metrics.md documents.
func TestDashboard(t *testing.T) {
	doc, root := realDoc(t)
	data, err := os.ReadFile(filepath.Join(root, DashboardPath))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Inputs []struct {
			Name, Type, PluginID string
		} `json:"__inputs"`
		SchemaVersion int    `json:"schemaVersion"`
		UID           string `json:"uid"`
		Title         string `json:"title"`
		Panels        []struct {
			ID         int    `json:"id"`
			Type       string `json:"type"`
			Title      string `json:"title"`
			Datasource *struct {
				Type, UID string
			} `json:"datasource"`
			Targets []struct {
				Expr  string `json:"expr"`
				RefID string `json:"refId"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("%s: %v", DashboardPath, err)
	}
	if dash.SchemaVersion < 36 || dash.UID == "" || dash.Title == "" {
		t.Errorf("schemaVersion %d, uid %q, title %q", dash.SchemaVersion, dash.UID, dash.Title)
	}
	if len(dash.Inputs) != 1 || dash.Inputs[0].Name != "DS_PROMETHEUS" || dash.Inputs[0].Type != "datasource" || dash.Inputs[0].PluginID != "prometheus" {
		t.Errorf("__inputs = %+v, want one Prometheus data source DS_PROMETHEUS", dash.Inputs)
	}
	ids := make(map[int]bool)
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${DS_PROMETHEUS}" {
			t.Errorf("panel %q: datasource %+v, want uid ${DS_PROMETHEUS}", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" || tg.RefID == "" {
				t.Errorf("panel %q: empty query or refId", p.Title)
			}
		}
	}
	exprs, err := Exprs(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(exprs) == 0 {
		t.Fatal("no expr in the dashboard")
	}
	for _, err := range doc.CheckExprs(exprs) {
		t.Error(err)
	}
}

// TestGoAndProcessGroups keeps the go_* and process_* rows honest for what
// service.NewRegistry gathers.
func TestGoAndProcessGroups(t *testing.T) {
	doc, _ := realDoc(t)
	names, err := Gathered(service.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if r, ok := doc.Lookup(n); !ok || !r.Group {
			t.Errorf("service.NewRegistry gathers %s, which no group row of %s covers", n, DocPath)
		}
	}
}

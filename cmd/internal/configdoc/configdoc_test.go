package configdoc

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/cmd/internal/metricsdoc"
	"github.com/orderflow/orderflow/cmd/internal/service"
)

// fixtureHelp prints a flag set through service.Flags, as the binaries do.
func fixtureHelp(t *testing.T) string {
	t.Helper()
	fs := service.NewFlags("fixture", func(string) (string, bool) { return "", false })
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	var (
		s       string
		n       int
		b       bool
		d       time.Duration
		logging service.Logging
	)
	fs.String(&s, "database-url", "", "PostgreSQL URL")
	fs.String(&s, "redis-url", "redis://127.0.0.1:6379/0", "Redis URL")
	fs.Int(&n, "relay-batch-size", 1000, "events read\nand published at once")
	fs.Bool(&b, "cache", true, "serve reads cache-aside")
	fs.Bool(&b, "all", false, "every parked entry")
	fs.Int(&n, "workers", 0, "zero")
	fs.Duration(&d, "shutdown-timeout", 15*time.Second, "drain time")
	logging.Register(fs)
	if err := fs.Parse([]string{"--help"}); err != flag.ErrHelp {
		t.Fatalf("Parse(--help) = %v", err)
	}
	return buf.String()
}

func TestParseHelp(t *testing.T) {
	got, err := ParseHelp(fixtureHelp(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []Setting{
		{"all", "ORDERFLOW_ALL", "false", ""},
		{"cache", "ORDERFLOW_CACHE", "true", ""},
		{"database-url", "ORDERFLOW_DATABASE_URL", "", ""},
		{"log-format", "ORDERFLOW_LOG_FORMAT", "text", ""},
		{"log-level", "ORDERFLOW_LOG_LEVEL", "info", ""},
		{"redis-url", "ORDERFLOW_REDIS_URL", "redis://127.0.0.1:6379/0", ""},
		{"relay-batch-size", "ORDERFLOW_RELAY_BATCH_SIZE", "1000", ""},
		{"shutdown-timeout", "ORDERFLOW_SHUTDOWN_TIMEOUT", "15s", ""},
		{"workers", "ORDERFLOW_WORKERS", "0", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d settings, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g := got[i]
		if g.Flag != want[i].Flag || g.Env != want[i].Env || g.Default != want[i].Default {
			t.Errorf("setting %d = %+v, want %+v", i, g, want[i])
		}
	}
	if u := got[6].Usage; !strings.Contains(u, "events read and published at once") {
		t.Errorf("a usage of two lines reads %q", u)
	}

	if _, err := ParseHelp("Usage: nothing\n"); err == nil {
		t.Error("ParseHelp accepted a text without flags")
	}
	if _, err := ParseHelp("  -http-addr string\n    \taddress (env ORDERFLOW_LISTEN)\n"); err == nil {
		t.Error("ParseHelp accepted an env name that is not the flag's")
	}
}

const table = "# X\n\n## Configuration\n\n" +
	"| variable | flag | binaries | default | meaning |\n" +
	"|---|---|---|---|---|\n" +
	"| `ORDERFLOW_DATABASE_URL` | `--database-url` | api, relay | required | PostgreSQL URL |\n" +
	"| `ORDERFLOW_REDIS_URL` | `--redis-url` | api, relay | `redis://127.0.0.1:6379/0` | uses `a|b` |\n" +
	"| `ORDERFLOW_RELAY_BATCH_SIZE` | `--relay-batch-size` | relay | `1000` | batch |\n" +
	"| `ORDERFLOW_CACHE` | `--cache` | api | `true` | cache |\n\n" +
	"```\n| variable | flag | binaries | default | meaning |\n```\n\n" +
	"| variable | flag | binaries | default | meaning |\n|---|---|---|---|---|\n| `ORDERFLOW_SECOND_TABLE` | `--x` | api | — | ignored |\n"

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseTable(t *testing.T) {
	rows, err := ParseTable(writeFile(t, "README.md", table))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, strings.Join([]string{r.Env, r.Flag, strings.Join(r.Binaries, "+"), r.Default}, " "))
	}
	want := []string{
		"ORDERFLOW_DATABASE_URL database-url orderflow-api+orderflow-relay ",
		"ORDERFLOW_REDIS_URL redis-url orderflow-api+orderflow-relay redis://127.0.0.1:6379/0",
		"ORDERFLOW_RELAY_BATCH_SIZE relay-batch-size orderflow-relay 1000",
		"ORDERFLOW_CACHE cache orderflow-api true",
	}
	if !slices.Equal(got, want) {
		t.Errorf("rows:\n got %q\nwant %q", got, want)
	}
	if !rows[0].Prose || rows[1].Prose {
		t.Errorf("prose defaults: %v, %v", rows[0].Prose, rows[1].Prose)
	}

	head := "| variable | flag | binaries | default | meaning |\n|---|---|---|---|---|\n"
	for name, text := range map[string]string{
		"no table":      "# README\n",
		"no backticks":  head + "| ORDERFLOW_A | `--a` | api | `1` | x |\n",
		"not orderflow": head + "| `DATABASE_URL` | `--database-url` | api | `1` | x |\n",
		"flag":          head + "| `ORDERFLOW_A` | a | api | `1` | x |\n",
		"no binary":     head + "| `ORDERFLOW_A` | `--a` | bench | `1` | x |\n",
		"two defaults":  head + "| `ORDERFLOW_A` | `--a` | api | `1` or `2` | x |\n",
		"cells":         head + "| `ORDERFLOW_A` | `--a` | api | `1` |\n",
		"duplicate":     head + "| `ORDERFLOW_A` | `--a` | api | `1` | x |\n| `ORDERFLOW_A` | `--a` | relay | `1` | x |\n",
	} {
		if _, err := ParseTable(writeFile(t, "README.md", text)); err == nil {
			t.Errorf("%s: ParseTable accepted it", name)
		}
	}
}

func TestCheck(t *testing.T) {
	rows, err := ParseTable(writeFile(t, "README.md", table))
	if err != nil {
		t.Fatal(err)
	}
	relay := []Setting{
		{Flag: "database-url", Env: "ORDERFLOW_DATABASE_URL"},
		{Flag: "redis-url", Env: "ORDERFLOW_REDIS_URL", Default: "redis://127.0.0.1:6379/0"},
		{Flag: "relay-batch-size", Env: "ORDERFLOW_RELAY_BATCH_SIZE", Default: "1000"},
	}
	if errs := Check("orderflow-relay", relay, rows); len(errs) > 0 {
		t.Errorf("Check(good) = %v", errs)
	}
	for name, tc := range map[string]struct {
		binary   string
		settings []Setting
		want     string
	}{
		"missing row": {"orderflow-relay", append(slices.Clone(relay), Setting{Flag: "relay-new", Env: "ORDERFLOW_RELAY_NEW"}), "ORDERFLOW_RELAY_NEW"},
		"stale row":   {"orderflow-relay", relay[:2], "ORDERFLOW_RELAY_BATCH_SIZE"},
		"default": {"orderflow-relay", []Setting{relay[0], relay[1], {Flag: "relay-batch-size", Env: "ORDERFLOW_RELAY_BATCH_SIZE", Default: "500"}},
			"500"},
		"binary not listed": {"orderflow-projector", relay[:1], "does not list orderflow-projector"},
		"flag": {"orderflow-relay", []Setting{relay[0], relay[1], {Flag: "batch-size", Env: "ORDERFLOW_RELAY_BATCH_SIZE", Default: "1000"}},
			"--batch-size"},
	} {
		errs := Check(tc.binary, tc.settings, rows)
		if len(errs) == 0 {
			t.Errorf("%s: Check found nothing", name)
			continue
		}
		if !strings.Contains(errs[0].Error(), tc.want) {
			t.Errorf("%s: Check = %v, want a mention of %s", name, errs, tc.want)
		}
	}
}

const composeFixture = `
x-env: &env
  ORDERFLOW_DATABASE_URL: postgres://db/x
  ORDERFLOW_REDIS_URL: redis://redis:6379/0
services:
  relay-1:
    entrypoint: ["/usr/local/bin/orderflow-relay"]
    environment:
      <<: *env
      ORDERFLOW_RELAY_BATCH_SIZE: "500"
  relay-2:
    entrypoint: ["/usr/local/bin/orderflow-relay"]
    environment:
      - ORDERFLOW_DATABASE_URL=postgres://db/x
      - ORDERFLOW_TYPO=1
  redis:
    image: redis:7
`

func TestCheckCompose(t *testing.T) {
	c, err := ParseCompose(writeFile(t, "docker-compose.yml", composeFixture))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range c.Services {
		names = append(names, s.Name+":"+s.Binary)
	}
	if want := []string{"relay-1:orderflow-relay", "relay-2:orderflow-relay", "redis:"}; !slices.Equal(names, want) {
		t.Errorf("services %v, want %v", names, want)
	}
	if got := c.Services[0].Environment["ORDERFLOW_REDIS_URL"]; got != "redis://redis:6379/0" {
		t.Errorf("merged environment: ORDERFLOW_REDIS_URL = %q", got)
	}
	relay := []Setting{
		{Flag: "database-url", Env: "ORDERFLOW_DATABASE_URL"},
		{Flag: "redis-url", Env: "ORDERFLOW_REDIS_URL"},
		{Flag: "relay-batch-size", Env: "ORDERFLOW_RELAY_BATCH_SIZE"},
	}
	errs := CheckCompose("orderflow-relay", relay, c)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "relay-2 sets ORDERFLOW_TYPO") {
		t.Errorf("CheckCompose = %v, want one error for ORDERFLOW_TYPO", errs)
	}
	if errs := CheckCompose("orderflow-api", nil, c); len(errs) != 1 || !strings.Contains(errs[0].Error(), "no service runs") {
		t.Errorf("CheckCompose(api) = %v, want no service runs it", errs)
	}
}

func realCompose(t *testing.T) (*Compose, string) {
	t.Helper()
	root, err := metricsdoc.Root()
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCompose(filepath.Join(root, ComposePath))
	if err != nil {
		t.Fatal(err)
	}
	return c, root
}

// TestComposeTopology checks docker-compose.yml for what issue 8 asks of it:
// PostgreSQL and Redis on named volumes, a one-shot migration, two of each
// OrderFlow binary on their own host ports, projectors with distinct consumer
// names, a healthcheck on every long-running service and depends_on with
// conditions.
func TestComposeTopology(t *testing.T) {
	c, _ := realCompose(t)
	raw := c.Raw
	count := make(map[string][]string)
	for _, s := range c.Services {
		key := s.Binary
		if key == "" {
			key = strings.SplitN(raw.Services[s.Name].Image, ":", 2)[0]
		}
		count[key] = append(count[key], s.Name)
	}
	for key, want := range map[string]int{"postgres": 1, "redis": 1, "orderflow-relay": 2, "orderflow-projector": 2} {
		if got := len(count[key]); got != want {
			t.Errorf("%d services of %s (%v), want %d", got, key, count[key], want)
		}
	}

	oneShots := make(map[string]bool)
	apis := 0
	for _, s := range c.Services {
		svc := raw.Services[s.Name]
		if s.Binary == "orderflow-api" && slices.Equal(svc.Command, []string{"migrate"}) {
			oneShots[s.Name] = true
			if svc.Restart != "no" {
				t.Errorf("%s: a one-shot migration must not restart (restart %q)", s.Name, svc.Restart)
			}
			continue
		}
		if s.Binary == "orderflow-api" {
			apis++
		}
	}
	if len(oneShots) != 1 || apis != 2 {
		t.Errorf("%d migrate services and %d APIs, want 1 and 2", len(oneShots), apis)
	}

	hostPorts := make(map[string]string)
	for _, s := range c.Services {
		svc := raw.Services[s.Name]
		if s.Binary != "" && svc.Build == nil {
			t.Errorf("%s: no build: compose would try to pull the OrderFlow image", s.Name)
		}
		if !oneShots[s.Name] {
			if svc.Healthcheck == nil || svc.Healthcheck.Disable || len(svc.Healthcheck.Test) < 2 {
				t.Errorf("%s: no healthcheck", s.Name)
			} else if s.Binary != "" {
				// The image has no shell: the probe must be the binary itself,
				// exec form, against the address the service listens on.
				test := svc.Healthcheck.Test
				if test[0] != "CMD" || filepath.Base(test[1]) != s.Binary || len(test) != 4 || test[2] != service.ProbeCommand {
					t.Errorf("%s: healthcheck %q, want [CMD, %s, %s, URL]", s.Name, test, s.Binary, service.ProbeCommand)
				} else if port := listenPort(s); port == "" || !strings.HasPrefix(test[3], "http://127.0.0.1:"+port+"/") {
					t.Errorf("%s: healthcheck probes %s, the service listens on port %q", s.Name, test[3], port)
				}
			}
			if svc.Restart == "" || svc.Restart == "no" {
				t.Errorf("%s: restart %q: a long-running service should come back", s.Name, svc.Restart)
			}
		}
		if s.Binary != "" {
			if len(svc.DependsOn) == 0 {
				t.Errorf("%s: no depends_on", s.Name)
			}
			for dep, d := range svc.DependsOn {
				want := "service_healthy"
				if oneShots[dep] {
					want = "service_completed_successfully"
				}
				if d.Condition != want {
					t.Errorf("%s depends on %s with condition %q, want %s", s.Name, dep, d.Condition, want)
				}
			}
			for _, need := range append([]string{"postgres", "redis"}, keysOf(oneShots)...) {
				if _, ok := svc.DependsOn[need]; !ok && s.Name != need && !(oneShots[s.Name] && oneShots[need]) {
					t.Errorf("%s does not depend on %s", s.Name, need)
				}
			}
		}
		for _, p := range svc.Ports {
			parts := strings.Split(p, ":")
			if len(parts) != 3 || parts[0] != "127.0.0.1" {
				t.Errorf("%s: port %q, want 127.0.0.1:HOST:CONTAINER", s.Name, p)
				continue
			}
			if prev, ok := hostPorts[parts[1]]; ok {
				t.Errorf("host port %s used by %s and %s", parts[1], prev, s.Name)
			}
			hostPorts[parts[1]] = s.Name
			if port := listenPort(s); port != "" && parts[2] != port {
				t.Errorf("%s publishes container port %s, listens on %s", s.Name, parts[2], port)
			}
		}
		if s.Binary != "" && !oneShots[s.Name] && len(svc.Ports) != 1 {
			t.Errorf("%s: %d published ports, want its own one", s.Name, len(svc.Ports))
		}
	}

	consumers := make(map[string]string)
	for _, s := range c.Services {
		if s.Binary != "orderflow-projector" {
			continue
		}
		name := s.Environment["ORDERFLOW_CONSUMER"]
		if name == "" {
			t.Errorf("%s: no ORDERFLOW_CONSUMER: a recreated container would get a new name", s.Name)
		} else if prev, ok := consumers[name]; ok {
			t.Errorf("%s and %s share consumer name %q", prev, s.Name, name)
		}
		consumers[name] = s.Name
		if g := s.Environment["ORDERFLOW_CONSUMER_GROUP"]; g != "" {
			t.Errorf("%s sets its own consumer group %q; all projectors share the default one", s.Name, g)
		}
	}

	for _, s := range c.Services {
		if s.Binary == "orderflow-api" && !oneShots[s.Name] {
			if s.Environment["ORDERFLOW_JWT_SECRET"] != c.Services[indexOf(c, s.Binary, oneShots)].Environment["ORDERFLOW_JWT_SECRET"] {
				t.Errorf("%s: the APIs must share one ORDERFLOW_JWT_SECRET", s.Name)
			}
		}
	}

	volumes := make(map[string]bool)
	for name := range raw.Volumes {
		volumes[name] = true
	}
	for _, name := range []string{"postgres", "redis"} {
		svc := raw.Services[count[name][0]]
		named := false
		for _, v := range svc.Volumes {
			src, _, _ := strings.Cut(v, ":")
			named = named || volumes[src]
		}
		if !named {
			t.Errorf("%s keeps its data on no named volume (volumes %v, named %v)", name, svc.Volumes, volumes)
		}
	}
}

// listenPort is the port of the address an OrderFlow service is told to
// listen on.
func listenPort(s Service) string {
	for _, k := range []string{"ORDERFLOW_HTTP_ADDR", "ORDERFLOW_RELAY_HTTP_ADDR", "ORDERFLOW_PROJECTOR_HTTP_ADDR"} {
		if addr, ok := s.Environment[k]; ok {
			_, port, _ := strings.Cut(addr, ":")
			return port
		}
	}
	return ""
}

// indexOf returns the index of the first long-running service of binary.
func indexOf(c *Compose, binary string, oneShots map[string]bool) int {
	for i, s := range c.Services {
		if s.Binary == binary && !oneShots[s.Name] {
			return i
		}
	}
	return 0
}

func keysOf(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestComposeEnvironmentInReadme: every ORDERFLOW_* variable the compose
// file sets is a row of the README's table that names the service's binary.
func TestComposeEnvironmentInReadme(t *testing.T) {
	c, root := realCompose(t)
	rows, err := ParseTable(filepath.Join(root, ReadmePath))
	if err != nil {
		t.Fatal(err)
	}
	byEnv := make(map[string]Row)
	for _, r := range rows {
		byEnv[r.Env] = r
	}
	for _, s := range c.Services {
		for _, k := range sortedKeys(s.Environment) {
			if !strings.HasPrefix(k, "ORDERFLOW_") {
				continue
			}
			if r, ok := byEnv[k]; !ok || !slices.Contains(r.Binaries, s.Binary) {
				t.Errorf("%s: service %s (%s) sets %s, which the README's table does not list for it", ComposePath, s.Name, s.Binary, k)
			}
		}
	}
}

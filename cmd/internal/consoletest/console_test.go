package consoletest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/orderflow/orderflow/adapters/jwt"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/internal/testenv/process"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// waitLimit bounds every wait for a condition.
const waitLimit = 60 * time.Second

const secret = "orderflow-console-test-secret-0123456789"

// ChromiumEnv names the browser binary; by default chromium on PATH.
const ChromiumEnv = "ORDERFLOW_CHROMIUM"

// ScreenshotEnv, when set, is where the test saves its screenshot (besides
// the test's temporary folder): `make screenshot` points it at docs/.
const ScreenshotEnv = "ORDERFLOW_CONSOLE_SCREENSHOT"

func token(t *testing.T, role app.Role, sub string) string {
	t.Helper()
	keys, err := jwt.NewKeys([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := keys.Mint(app.Principal{Subject: sub, Role: role}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// chromium finds the browser; a missing one fails the test: CI installs it.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(ChromiumEnv); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatalf("chromium is missing: install it with scripts/services.sh browser (apt-get install -y chromium), or set %s", ChromiumEnv)
	return ""
}

// system is one deployment run as processes over the test servers.
type system struct {
	env      *testenv.Env
	settings map[string]string
	api      *process.Process
}

func (s *system) start(t *testing.T, name, path, addrEnv string, extra map[string]string, args ...string) *process.Process {
	t.Helper()
	settings := map[string]string{"ORDERFLOW_JWT_SECRET": secret, "ORDERFLOW_RATE_LIMIT": "0"}
	for k, v := range s.settings {
		settings[k] = v
	}
	for k, v := range extra {
		settings[k] = v
	}
	return testenv.StartProcess(t, process.Spec{Name: name, Path: path, Args: args, Settings: settings, AddrEnv: addrEnv})
}

// call sends one API request and returns its status and body.
func (s *system) call(t *testing.T, method, path, bearer, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.api.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, data
}

// browser is one headless Chromium tab.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // root in CI containers
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 1700),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser: no timeout on it, or the timeout
	// would stop the browser.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx}
}

func (b *browser) run(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitLimit)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// evaluate runs expr in the page and decodes its value; a promise is awaited.
func evaluate[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitLimit)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("browser: evaluate %s: %v", expr, err)
	}
	return v
}

// text is an element's text ("" when absent).
func (b *browser) text(selector string) string {
	b.t.Helper()
	return evaluate[string](b, `(document.querySelector(`+strconv.Quote(selector)+`) || {textContent: ""}).textContent`)
}

// waitText waits until the element's text satisfies ok.
func (b *browser) waitText(what, selector string, ok func(string) bool) string {
	b.t.Helper()
	var got string
	testenv.WaitFor(b.t, waitLimit, what, func() (bool, string) {
		got = b.text(selector)
		return ok(got), selector + " = " + strconv.Quote(got)
	})
	return got
}

// visible reports whether the figures are on screen.
func (b *browser) figuresShown() bool {
	return !evaluate[bool](b, `document.getElementById("sections").classList.contains("hidden")`)
}

// rows counts the rows of a table body.
func (b *browser) rows(tbody string) int {
	return evaluate[int](b, `document.getElementById(`+strconv.Quote(tbody)+`).rows.length`)
}

// useToken pastes a token into the page, as an operator would.
func (b *browser) useToken(tok string) {
	b.t.Helper()
	b.run(chromedp.SetValue(chromedp.CSS("#token"), tok), chromedp.Click(chromedp.CSS("#save-token")))
}

// confirmClick clicks a button and confirms the page's question.
func (b *browser) confirmClick(selector string) {
	b.t.Helper()
	b.run(chromedp.Click(chromedp.CSS(selector)), chromedp.WaitVisible(chromedp.CSS("#confirm-yes")), chromedp.Click(chromedp.CSS("#confirm-yes")))
}

// fetchStatus is the status the page's origin gets for one call with the
// given token ("" for none).
func (b *browser) fetchStatus(method, path, tok, body string) int {
	b.t.Helper()
	headers := `{}`
	if tok != "" {
		headers = `{"Authorization": "Bearer ` + tok + `", "Content-Type": "application/json"}`
	} else if body != "" {
		headers = `{"Content-Type": "application/json"}`
	}
	opts := `{method: ` + strconv.Quote(method) + `, headers: ` + headers
	if body != "" {
		opts += `, body: ` + strconv.Quote(body)
	}
	opts += `}`
	return evaluate[int](b, `fetch(`+strconv.Quote(path)+`, `+opts+`).then(r => r.status)`)
}

// The console in a real browser against a running system: no figures and
// no action without an admin token; with one, figures that move with
// traffic, a parked entry re-driven from the page, and a replay started
// from the page and followed to its end.
func TestConsoleInABrowser(t *testing.T) {
	env := testenv.New(t, testenv.Options{Cache: true})
	s := &system{env: env, settings: env.Settings()}
	bins := testenv.Binaries(t)
	s.api = s.start(t, "orderflow-api", bins.API, "ORDERFLOW_HTTP_ADDR", nil, "serve")
	s.start(t, "orderflow-projector", bins.Projector, "ORDERFLOW_PROJECTOR_HTTP_ADDR",
		map[string]string{"ORDERFLOW_CONSUMER": "console-projector", "ORDERFLOW_PROJECTOR_MAX_RETRIES": "0"}, "run")
	ctx := context.Background()

	// A poison entry, parked before the relay starts: a customer whose read
	// row is gone cannot be projected. Its row is kept aside to put back.
	broken, err := env.App.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: "broken@example.com", Name: "Broken"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Pool.Exec(ctx, `CREATE TABLE customers_aside AS SELECT * FROM customers WHERE id = $1`, broken.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Pool.Exec(ctx, `DELETE FROM customers WHERE id = $1`, broken.ID); err != nil {
		t.Fatal(err)
	}
	s.start(t, "orderflow-relay", bins.Relay, "ORDERFLOW_RELAY_HTTP_ADDR", map[string]string{"ORDERFLOW_RELAY_POLL_INTERVAL": "50ms"})

	admin := token(t, app.RoleAdmin, "console-admin")
	status, body := s.call(t, http.MethodPost, "/api/v1/products", admin, `{"sku":"CON-1","name":"Console","priceCents":500,"currency":"EUR","initialStock":3}`)
	if status != http.StatusCreated {
		t.Fatalf("create product: %d %s", status, body)
	}
	var product struct{ ID string }
	if err := json.Unmarshal(body, &product); err != nil {
		t.Fatal(err)
	}
	status, body = s.call(t, http.MethodPost, "/api/v1/customers", "", `{"email":"someone@example.com","name":"Someone"}`)
	if status != http.StatusCreated {
		t.Fatalf("register: %d %s", status, body)
	}
	var customer struct{ ID string }
	if err := json.Unmarshal(body, &customer); err != nil {
		t.Fatal(err)
	}
	customerToken := token(t, app.RoleCustomer, customer.ID)

	b := newBrowser(t)
	page := s.api.URL() + "/admin/console"

	// Without a token: the page loads, shows nothing, and every call is 401.
	b.run(chromedp.Navigate(page), chromedp.WaitReady(chromedp.CSS("#status")))
	if b.figuresShown() || b.rows("cache-families") != 0 {
		t.Fatal("figures shown without a token")
	}
	calls := []struct{ method, path, body string }{
		{http.MethodGet, "/api/v1/admin/overview", ""},
		{http.MethodGet, "/api/v1/admin/dead-letters", ""},
		{http.MethodPost, "/api/v1/admin/dead-letters/redrive", `{"all":true}`},
		{http.MethodPost, "/api/v1/admin/dead-letters/drop", `{"all":true}`},
		{http.MethodPost, "/api/v1/admin/replay", `{"from":"auto"}`},
		{http.MethodPost, "/api/v1/admin/replay/cancel", ""},
	}
	for _, c := range calls {
		if got := b.fetchStatus(c.method, c.path, "", c.body); got != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d, want 401", c.method, c.path, got)
		}
		if got := b.fetchStatus(c.method, c.path, customerToken, c.body); got != http.StatusForbidden {
			t.Errorf("%s %s with a customer token: %d, want 403", c.method, c.path, got)
		}
	}

	// A customer's token: refused, and nothing is shown.
	b.useToken(customerToken)
	b.waitText("the page to say the token is not an admin's", "#status", func(s string) bool { return strings.HasPrefix(s, "403") })
	if b.figuresShown() || b.rows("cache-families") != 0 || b.rows("dead-letters") != 0 {
		t.Fatal("figures shown with a customer token")
	}

	// An admin's token: the figures come, and move with traffic.
	b.useToken(admin)
	b.waitText("the page to load the figures", "#status", func(s string) bool { return strings.HasPrefix(s, "Updated") })
	if !b.figuresShown() {
		t.Fatal("figures hidden with an admin token")
	}
	b.waitText("the active relay", "#active-relay", func(s string) bool { return strings.Contains(s, "127.0.0.1") })
	hits := func() int {
		n, _ := strconv.Atoi(strings.ReplaceAll(b.text(`#cache-families tr[data-family="product"] td.hits`), ",", ""))
		return n
	}
	before := hits()
	for range 5 {
		if status, _ := s.call(t, http.MethodGet, "/api/v1/products/"+product.ID, "", ""); status != http.StatusOK {
			t.Fatalf("get product: %d", status)
		}
	}
	testenv.WaitFor(t, waitLimit, "the product family's hits to move", func() (bool, string) {
		h := hits()
		return h >= before+4, fmt.Sprintf("hits %d, were %d", h, before)
	})

	// The poison entry is listed with its event and error; re-driven from
	// the page once its cause is fixed, it is projected.
	row := `#dead-letters tr`
	b.waitText("the parked entry", row, func(s string) bool {
		return strings.Contains(s, "CustomerRegistered") && strings.Contains(s, broken.ID)
	})
	if _, err := env.Pool.Exec(ctx, `INSERT INTO customers SELECT * FROM customers_aside`); err != nil {
		t.Fatal(err)
	}
	b.confirmClick(`#dead-letters tr button.redrive`)
	b.waitText("the re-drive's result", "#action-result", func(s string) bool { return strings.HasPrefix(s, "redrive: 1 of 1") })
	b.waitText("the dead-letter stream to empty", "#dl-count", func(s string) bool { return s == "0" })
	// The projector wrote it (nothing read it through the API, whose
	// cache-aside fill would also write it).
	testenv.WaitFor(t, waitLimit, "the re-driven customer to be projected", func() (bool, string) {
		e := env.Entry(t, cache.CustomerKey(broken.ID))
		return e.Found && !e.Tombstone, fmt.Sprintf("%+v", e)
	})

	// A replay started from the page runs in the projector to its end.
	generation := b.text("#generation")
	b.run(chromedp.SetValue(chromedp.CSS("#replay-from"), "store"))
	b.confirmClick("#start-replay")
	phases := map[string]bool{}
	testenv.WaitFor(t, waitLimit, "the replay to finish", func() (bool, string) {
		p := b.text("#replay-phase")
		phases[p] = true
		return p == "done", "phase " + p
	})
	t.Logf("replay phases seen on the page: %v", phases)
	if len(phases) < 2 {
		t.Errorf("the page showed no progress before done: %v", phases)
	}
	b.waitText("the new generation", "#generation", func(s string) bool { return s != generation && s != "(none)" })
	if ev := b.text("#replay-events"); ev == "0" {
		t.Errorf("the finished replay shows %s events", ev)
	}

	// Every action is in the audit list, with who did it.
	audit := b.waitText("the audit list", "#audit", func(s string) bool {
		return strings.Contains(s, "start replay") && strings.Contains(s, "re-drive parked entries")
	})
	if !strings.Contains(audit, "admin:console-admin") {
		t.Errorf("the audit list names nobody: %s", audit)
	}

	shot := evaluateShot(b)
	path := filepath.Join(t.TempDir(), "console.png")
	if p := os.Getenv(ScreenshotEnv); p != "" {
		path = p
	}
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)

	// Forgetting the token clears the page.
	b.run(chromedp.Click(chromedp.CSS("#forget-token")))
	if b.figuresShown() || b.rows("audit") != 0 {
		t.Error("figures stay on screen after the token is forgotten")
	}
}

// evaluateShot takes a PNG of the whole page.
func evaluateShot(b *browser) []byte {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitLimit)
	defer cancel()
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("browser: screenshot: %v", err)
	}
	return shot
}

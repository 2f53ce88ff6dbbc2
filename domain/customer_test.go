package domain_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/orderflow/orderflow/domain"
)

// emailOfLength builds a syntactically valid address of exactly n bytes (n ≥ 70).
func emailOfLength(n int) string {
	local := strings.Repeat("a", 64)
	domainLen := n - len(local) - 1 - len(".com")
	var labels []string
	for domainLen > 0 {
		l := min(domainLen, 63)
		if domainLen-l == 1 { // keep room for a label after the dot
			l--
		}
		labels = append(labels, strings.Repeat("b", l))
		domainLen -= l
		if domainLen > 0 {
			domainLen-- // the dot
		}
	}
	return local + "@" + strings.Join(labels, ".") + ".com"
}

func TestEmailOfLength(t *testing.T) {
	for _, n := range []int{70, 128, 253, 254, 255, 300} {
		if got := len(emailOfLength(n)); got != n {
			t.Errorf("len(emailOfLength(%d)) = %d", n, got)
		}
	}
}

func TestRegisterCustomer(t *testing.T) {
	tests := []struct {
		name       string
		email      string
		custName   string
		wantFields []string
	}{
		{name: "valid", email: "ada@example.com", custName: "Ada Lovelace"},
		{name: "plus tag and subdomains", email: "ada.lovelace+tag@sub.example.co.uk", custName: "Ada"},
		{name: "upper case kept", email: "ADA@EXAMPLE.COM", custName: "Ada"},
		{name: "non-ASCII local part", email: "adä@example.com", custName: "Ada"},
		{name: "host without a dot (net/mail accepts it)", email: "ada@localhost", custName: "Ada"},
		{name: "email of 254 bytes", email: emailOfLength(254), custName: "Ada"},
		{name: "name of one character", email: "ada@example.com", custName: "A"},
		{name: "name of 200 multi-byte characters", email: "ada@example.com", custName: strings.Repeat("é", 200)},

		{name: "email empty", email: "", custName: "Ada", wantFields: []string{"email"}},
		{name: "email of 255 bytes", email: emailOfLength(255), custName: "Ada", wantFields: []string{"email"}},
		{name: "display name", email: "Ada <ada@example.com>", custName: "Ada", wantFields: []string{"email"}},
		{name: "encoded display name", email: "=?utf-8?q?Ada?= <ada@example.com>", custName: "Ada", wantFields: []string{"email"}},
		{name: "angle brackets only", email: "<ada@example.com>", custName: "Ada", wantFields: []string{"email"}},
		{name: "trailing comment", email: "ada@example.com (Ada)", custName: "Ada", wantFields: []string{"email"}},
		{name: "quoted local part", email: `"ada"@example.com`, custName: "Ada", wantFields: []string{"email"}},
		{name: "leading space", email: " ada@example.com", custName: "Ada", wantFields: []string{"email"}},
		{name: "trailing space", email: "ada@example.com ", custName: "Ada", wantFields: []string{"email"}},
		{name: "trailing newline", email: "ada@example.com\n", custName: "Ada", wantFields: []string{"email"}},
		{name: "no at sign", email: "ada", custName: "Ada", wantFields: []string{"email"}},
		{name: "no local part", email: "@example.com", custName: "Ada", wantFields: []string{"email"}},
		{name: "no domain", email: "ada@", custName: "Ada", wantFields: []string{"email"}},
		{name: "two at signs", email: "ada@@example.com", custName: "Ada", wantFields: []string{"email"}},
		{name: "two addresses", email: "ada@example.com, bob@example.com", custName: "Ada", wantFields: []string{"email"}},
		{name: "space in domain", email: "ada@exa mple.com", custName: "Ada", wantFields: []string{"email"}},
		{name: "double dot in local part", email: "ada..x@example.com", custName: "Ada", wantFields: []string{"email"}},
		{name: "double dot in domain", email: "ada@example..com", custName: "Ada", wantFields: []string{"email"}},

		{name: "name empty", email: "ada@example.com", custName: "", wantFields: []string{"name"}},
		{name: "name blank", email: "ada@example.com", custName: "  ", wantFields: []string{"name"}},
		{name: "name of 201 characters", email: "ada@example.com", custName: strings.Repeat("n", 201), wantFields: []string{"name"}},
		{name: "name of 201 multi-byte characters", email: "ada@example.com", custName: strings.Repeat("日", 201), wantFields: []string{"name"}},
		{name: "name with control character", email: "ada@example.com", custName: "Ada\x07", wantFields: []string{"name"}},
		{name: "name of invalid UTF-8", email: "ada@example.com", custName: "Ada\xfe", wantFields: []string{"name"}},
		{name: "name with a newline", email: "ada@example.com", custName: "Ada\nLovelace", wantFields: []string{"name"}},

		{name: "both failing, both listed", email: "Ada <ada@example.com>", custName: "", wantFields: []string{"email", "name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := domain.RegisterCustomer("c1", tt.email, tt.custName)
			checkFields(t, err, tt.wantFields)
			if tt.wantFields != nil {
				if c != nil {
					t.Errorf("RegisterCustomer returned a customer with an error: %+v", c.State())
				}
				return
			}
			if c == nil {
				t.Fatal("RegisterCustomer returned nil customer and nil error")
			}
			if diff := cmp.Diff(domain.CustomerState{Email: tt.email, Name: tt.custName}, c.State()); diff != "" {
				t.Errorf("State() mismatch (-want +got):\n%s", diff)
			}
			checkChanges(t, c, []domain.Event{domain.CustomerRegistered{Email: tt.email, Name: tt.custName}})
			checkVersions(t, c, 1, 0)
			if got := c.AggregateID(); got != "c1" {
				t.Errorf("AggregateID() = %q, want c1", got)
			}
			if got := c.AggregateType(); got != domain.CustomerAggregate {
				t.Errorf("AggregateType() = %q, want %q", got, domain.CustomerAggregate)
			}
		})
	}
}

func TestCustomerUpdateProfile(t *testing.T) {
	const oldEmail, oldName = "ada@example.com", "Ada Lovelace"
	tests := []struct {
		name       string
		email      *string
		custName   *string
		wantFields []string
		wantEvent  *domain.CustomerProfileUpdated
		wantEmail  string
		wantName   string
	}{
		{name: "both nil keep both, no event", wantEmail: oldEmail, wantName: oldName},
		{name: "same email, no event", email: ptr(oldEmail), wantEmail: oldEmail, wantName: oldName},
		{name: "same name, no event", custName: ptr(oldName), wantEmail: oldEmail, wantName: oldName},
		{name: "same email and name, no event", email: ptr(oldEmail), custName: ptr(oldName), wantEmail: oldEmail, wantName: oldName},
		{name: "new email keeps name", email: ptr("ada@lovelace.org"),
			wantEvent: &domain.CustomerProfileUpdated{Email: "ada@lovelace.org", Name: oldName}, wantEmail: "ada@lovelace.org", wantName: oldName},
		{name: "new name keeps email", custName: ptr("Augusta Ada King"),
			wantEvent: &domain.CustomerProfileUpdated{Email: oldEmail, Name: "Augusta Ada King"}, wantEmail: oldEmail, wantName: "Augusta Ada King"},
		{name: "both new", email: ptr("ada@lovelace.org"), custName: ptr("Augusta Ada King"),
			wantEvent: &domain.CustomerProfileUpdated{Email: "ada@lovelace.org", Name: "Augusta Ada King"}, wantEmail: "ada@lovelace.org", wantName: "Augusta Ada King"},
		{name: "email changed only in case is a change", email: ptr("ADA@example.com"),
			wantEvent: &domain.CustomerProfileUpdated{Email: "ADA@example.com", Name: oldName}, wantEmail: "ADA@example.com", wantName: oldName},
		{name: "email with display name refused", email: ptr("Ada <ada@lovelace.org>"), wantFields: []string{"email"}, wantEmail: oldEmail, wantName: oldName},
		{name: "email empty refused", email: ptr(""), wantFields: []string{"email"}, wantEmail: oldEmail, wantName: oldName},
		{name: "email of 255 bytes refused", email: ptr(emailOfLength(255)), wantFields: []string{"email"}, wantEmail: oldEmail, wantName: oldName},
		{name: "invalid email refuses a valid name too", email: ptr("nope"), custName: ptr("Augusta Ada King"),
			wantFields: []string{"email"}, wantEmail: oldEmail, wantName: oldName},
		{name: "name empty refused", custName: ptr(""), wantFields: []string{"name"}, wantEmail: oldEmail, wantName: oldName},
		{name: "name blank refused", custName: ptr("\t"), wantFields: []string{"name"}, wantEmail: oldEmail, wantName: oldName},
		{name: "name of 201 characters refused", custName: ptr(strings.Repeat("é", 201)), wantFields: []string{"name"}, wantEmail: oldEmail, wantName: oldName},
		{name: "invalid name refuses a valid email too", email: ptr("ada@lovelace.org"), custName: ptr(""),
			wantFields: []string{"name"}, wantEmail: oldEmail, wantName: oldName},
		{name: "both invalid, both listed", email: ptr("<ada@lovelace.org>"), custName: ptr("\x00"),
			wantFields: []string{"email", "name"}, wantEmail: oldEmail, wantName: oldName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := domain.RegisterCustomer("c1", oldEmail, oldName)
			if err != nil {
				t.Fatal(err)
			}
			c.MarkSaved()

			err = c.UpdateProfile(tt.email, tt.custName)
			checkFields(t, err, tt.wantFields)

			var want []domain.Event
			wantVersion := int64(1)
			if tt.wantEvent != nil {
				want = []domain.Event{*tt.wantEvent}
				wantVersion = 2
			}
			checkChanges(t, c, want)
			checkVersions(t, c, wantVersion, 1)
			if diff := cmp.Diff(domain.CustomerState{Email: tt.wantEmail, Name: tt.wantName}, c.State()); diff != "" {
				t.Errorf("State() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func customerHistory(t *testing.T) *domain.Customer {
	t.Helper()
	c, err := domain.RegisterCustomer("c1", "ada@example.com", "Ada")
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct{ email, name *string }{
		{email: ptr("ada@lovelace.org")},
		{name: ptr("Ada Lovelace")},
		{email: ptr("ada@lovelace.org"), name: ptr("Ada Lovelace")}, // no change, no event
		{email: ptr("countess@lovelace.org"), name: ptr("Augusta Ada King")},
	}
	for i, s := range steps {
		if err := c.UpdateProfile(s.email, s.name); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	return c
}

func TestCustomerHistoryEvents(t *testing.T) {
	c := customerHistory(t)
	want := []domain.Event{
		domain.CustomerRegistered{Email: "ada@example.com", Name: "Ada"},
		domain.CustomerProfileUpdated{Email: "ada@lovelace.org", Name: "Ada"},
		domain.CustomerProfileUpdated{Email: "ada@lovelace.org", Name: "Ada Lovelace"},
		domain.CustomerProfileUpdated{Email: "countess@lovelace.org", Name: "Augusta Ada King"},
	}
	checkChanges(t, c, want)
	checkVersions(t, c, 4, 0)
}

func TestLoadCustomer(t *testing.T) {
	c := customerHistory(t)
	events := c.Changes()

	t.Run("full fold equals the built customer", func(t *testing.T) {
		got := domain.LoadCustomer("c1", nil, events)
		if diff := cmp.Diff(c.State(), got.State()); diff != "" {
			t.Errorf("State() mismatch (-built +loaded):\n%s", diff)
		}
		checkChanges(t, got, nil)
		checkVersions(t, got, c.Version(), c.Version())
		if got.AggregateID() != "c1" {
			t.Errorf("AggregateID() = %q, want c1", got.AggregateID())
		}
	})

	for k := 0; k <= len(events); k++ {
		t.Run("snapshot at version "+strconv.Itoa(k)+" plus the rest", func(t *testing.T) {
			snap := domain.LoadCustomer("c1", nil, events[:k])
			restored := domain.RestoreCustomer("c1", snap.Version(), snap.State())
			checkVersions(t, restored, int64(k), int64(k))
			got := domain.LoadCustomer("c1", restored, events[k:])
			if diff := cmp.Diff(c.State(), got.State()); diff != "" {
				t.Errorf("State() mismatch (-full fold +snapshot fold):\n%s", diff)
			}
			checkChanges(t, got, nil)
			checkVersions(t, got, c.Version(), c.Version())
		})
	}

	t.Run("a loaded customer records on top of its version", func(t *testing.T) {
		got := domain.LoadCustomer("c1", nil, events)
		if err := got.UpdateProfile(nil, ptr("Ada")); err != nil {
			t.Fatal(err)
		}
		checkChanges(t, got, []domain.Event{domain.CustomerProfileUpdated{Email: "countess@lovelace.org", Name: "Ada"}})
		checkVersions(t, got, c.Version()+1, c.Version())
	})
}

func TestCustomerMarkSaved(t *testing.T) {
	c := customerHistory(t)
	v := c.Version()
	c.MarkSaved()
	checkChanges(t, c, nil)
	checkVersions(t, c, v, v)
	if err := c.UpdateProfile(nil, nil); err != nil {
		t.Fatal(err)
	}
	checkChanges(t, c, nil)
	checkVersions(t, c, v, v)
}

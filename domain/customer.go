package domain

// Customer events.
type (
	CustomerRegistered struct {
		Email string `json:"email"`
		Name  string `json:"name"`
	}
	CustomerProfileUpdated struct {
		Email string `json:"email"`
		Name  string `json:"name"`
	}
)

func (CustomerRegistered) EventName() string     { return "CustomerRegistered" }
func (CustomerProfileUpdated) EventName() string { return "CustomerProfileUpdated" }

// CustomerStateSchema is the version of CustomerState's shape as stored in a
// snapshot. Bump it whenever that shape changes: a snapshot of another
// version is then ignored and the aggregate folded from its events.
const CustomerStateSchema = 1

// CustomerState is a customer's whole state, as kept in a snapshot.
type CustomerState struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

// Customer is someone who places orders. E-mail uniqueness across customers
// is kept by the store, which alone sees them all.
type Customer struct {
	root
	state CustomerState
}

func (*Customer) AggregateType() string { return CustomerAggregate }

// State returns a copy of the customer's state.
func (c *Customer) State() CustomerState { return c.state }

// RestoreCustomer rebuilds a customer from a snapshot taken at version.
func RestoreCustomer(id string, version int64, s CustomerState) *Customer {
	return &Customer{root: root{id: id, version: version}, state: s}
}

// LoadCustomer rebuilds a customer by applying its stored events in order,
// starting from base (nil for the empty customer).
func LoadCustomer(id string, base *Customer, events []Event) *Customer {
	c := base
	if c == nil {
		c = &Customer{root: root{id: id}}
	}
	c.replay(c.apply, events)
	return c
}

// RegisterCustomer checks a new customer's fields and records CustomerRegistered.
func RegisterCustomer(id, email, name string) (*Customer, error) {
	var v ValidationError
	checkEmail(&v, "email", email)
	checkText(&v, "name", name, 1, MaxNameLength, false)
	if err := v.errOrNil(); err != nil {
		return nil, err
	}
	c := &Customer{root: root{id: id}}
	c.record(c.apply, CustomerRegistered{Email: email, Name: name})
	return c, nil
}

// UpdateProfile sets the e-mail and name where given; nil keeps a field.
func (c *Customer) UpdateProfile(email, name *string) error {
	next := CustomerProfileUpdated{Email: c.state.Email, Name: c.state.Name}
	var v ValidationError
	if email != nil {
		checkEmail(&v, "email", *email)
		next.Email = *email
	}
	if name != nil {
		checkText(&v, "name", *name, 1, MaxNameLength, false)
		next.Name = *name
	}
	if err := v.errOrNil(); err != nil {
		return err
	}
	if next.Email != c.state.Email || next.Name != c.state.Name {
		c.record(c.apply, next)
	}
	return nil
}

func (c *Customer) apply(e Event) {
	switch e := e.(type) {
	case CustomerRegistered:
		c.state = CustomerState(e)
	case CustomerProfileUpdated:
		c.state = CustomerState(e)
	}
}

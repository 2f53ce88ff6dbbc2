// Command orderflow-api serves OrderFlow's REST API, applies migrations and
// loads demo data. Run `orderflow-api --help` for its settings.
package main

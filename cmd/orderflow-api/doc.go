// Command orderflow-api serves OrderFlow's REST API, applies migrations,
// loads demo data, mints tokens and counts the log's events per schema
// version. Run `orderflow-api --help` for its settings.
package main

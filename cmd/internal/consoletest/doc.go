// Package consoletest holds the operations console's browser test: a
// headless Chromium (Debian's chromium package, which scripts/test.sh
// installs the way scripts/services.sh installs redis-server) driven with
// chromedp against orderflow-api, orderflow-relay and orderflow-projector
// running as processes (docs/adr/0017-operations-console.md). It has no
// code of its own.
package consoletest

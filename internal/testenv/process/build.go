package process

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// Binaries are the paths of the three OrderFlow binaries.
type Binaries struct {
	API, Relay, Projector string
}

// InDir are the binaries as make build and Build leave them in dir.
func InDir(dir string) Binaries {
	return Binaries{
		API:       filepath.Join(dir, "orderflow-api"),
		Relay:     filepath.Join(dir, "orderflow-relay"),
		Projector: filepath.Join(dir, "orderflow-projector"),
	}
}

// Build compiles orderflow-api, orderflow-relay and orderflow-projector into
// dir, with the race detector when race is set. It runs one `go build` for
// the three, so the toolchain shares its work.
func Build(ctx context.Context, dir string, race bool) (Binaries, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return Binaries{}, fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/orderflow-api", "./cmd/orderflow-relay", "./cmd/orderflow-projector")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return Binaries{}, fmt.Errorf("go build: %w\n%s", err, out)
	}
	return InDir(dir), nil
}

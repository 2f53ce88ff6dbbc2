package main

import (
	"testing"
)

// The collector's settings: defaults, and the combinations startup refuses
// (a memory limit the near cache would fill).
func TestGCSettings(t *testing.T) {
	c, err := parseSettings(t, map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if c.GC.Percent != defaultGCPercent || c.GC.MemoryLimitMiB != defaultMemoryLimitMiB {
		t.Fatalf("defaults %+v", c.GC)
	}
	for _, ok := range [][]string{{"--near-cache"}, {"--gc-percent=100", "--memory-limit-mib=64"}, {"--near-cache", "--near-cache-mib=200", "--memory-limit-mib=248"}} {
		if _, err := parseSettings(t, map[string]string{}, ok...); err != nil {
			t.Errorf("%v refused: %v", ok, err)
		}
	}
	for _, bad := range [][]string{{"--gc-percent=0"}, {"--memory-limit-mib=16"}, {"--near-cache", "--near-cache-mib=100"}, {"--near-cache", "--near-cache-mib=200", "--memory-limit-mib=247"}} {
		if _, err := parseSettings(t, map[string]string{}, bad...); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

package testenv

import "github.com/orderflow/orderflow/internal/testenv/process"

// LogSink collects a process's or an in-process server's log while the
// test reads it; see process.LogSink.
type LogSink = process.LogSink

// NewLogSink returns a sink that keeps up to process.DefaultLogLimit bytes.
func NewLogSink() *LogSink { return process.NewLogSink(0) }

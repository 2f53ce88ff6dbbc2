// Package command holds OrderFlow's write use cases, one file per aggregate,
// and the writer they share: it runs a command's transaction, re-runs it on
// a version conflict, and once it committed evicts what the effects table
// (app/effects) says its events made stale, before the command answers.
package command

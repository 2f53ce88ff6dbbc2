// Package ops holds the operations console's use cases: the deployment-wide
// overview (cache figures summed over API instances, the pipeline, parked
// entries, the replay and verify's last result) and the admin actions on it
// (re-drive or drop parked entries, start or cancel an online replay), each
// audited. It declares the ports the adapters implement: the beat board
// where every process publishes its own figures, the audit log, the replay
// coordination and the dead-letter queue (docs/adr/0017-operations-console.md).
package ops

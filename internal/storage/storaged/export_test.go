package storaged

import "time"

// SetSocketSendStall sets the short-circuit socket's send stall
// (scSendStall) for connections accepted from now on; the returned func
// restores it. Tests only.
func SetSocketSendStall(d time.Duration) (restore func()) {
	old := scSendStall
	scSendStall = d
	return func() { scSendStall = old }
}

package errs

import (
	"errors"
	"syscall"
)

// OSReason is the operating system's words for err ("no space left on
// device") when it wraps an errno, else fallback: what a daemon may tell a
// client about its own disk without naming its paths (those go to the log
// with the whole error).
func OSReason(err error, fallback string) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		return en.Error()
	}
	return fallback
}

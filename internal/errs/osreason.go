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

// OSError is Unavailable "msg (reason)" for a failure of the daemon's own
// disk: the OS's reason is told, the path is not (err is kept as an
// Internal cause, for the log).
func OSError(op, msg string, err error) error {
	return E(op, Unavailable, msg+" ("+OSReason(err, "I/O error")+")", E(op, Internal, err))
}

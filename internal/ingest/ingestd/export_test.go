package ingestd

// SetAfterPut installs a hook that runs after part i of an ingest is
// uploaded; an error it returns ends that ingest there as a kill -9 would
// (no cleanup, the pending marker left).
func SetAfterPut(s *Server, f func(i int) error) { s.afterPut = f }

// RequestHash is the hash an Idempotency-Key's version records (ADR-123),
// of the upload's SHA-256.
var RequestHash = requestHash

package claude

// Finished reports whether the stream so far ends with the run's final
// result, and whether that result is an error. A run interrupted after
// its result (the worker died while the CLI was exiting) has done its
// work: its result is the run's, and the agent must not run again.
func (t *Totals) Finished() (done, isError bool) {
	if t.final == nil {
		return false, false
	}
	return true, t.final.IsError
}

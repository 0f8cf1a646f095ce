"""Compiled kernels for the search's hot path and the arrays they read
(`RosterState.use_kernels`)."""

"""The ``transition`` command's exit codes: 0 done, 1 the plan (or the run) has problems, 2 usage."""

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2

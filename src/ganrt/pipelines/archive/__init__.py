"""Folder jobs: the walk, the output plan, the job state, remote folders, the runner, reports."""

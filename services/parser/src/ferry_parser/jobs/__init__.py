"""Analysis and conversion jobs on a parsed file, each in a process of its own.

- ``runner.JobRunner``: consumes ``file.job.requested.v1``, checks the job is still
  wanted, runs it and announces ``file.analyzed.v1``, ``file.converted.v1`` or
  ``file.job.failed.v1``; stops a job on ``file.job.cancelled.v1``; removes what jobs
  made on cancel and on ``file.deleted.v1``.
- ``analyze`` / ``convert``: one kind of job each, from the parsed data to the stored result.
- ``child`` runs a job's process (``job_main``) with the memory and time caps; ``protocol``
  is what crosses between them; ``inputs`` streams the parsed content to it.
- ``results``: the ``analyses`` / ``analysis_pages`` documents and conversion blobs.
- ``capabilities``: this replica's entry in ``parser_capabilities``.

Nothing is imported here: ``job_main`` (the child) loads this package and must stay light.
"""

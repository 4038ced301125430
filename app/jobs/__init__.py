"""Jobs: analyses, workflows and repairs as rows run by one life cycle (``lifecycle``) on a
backend (a local thread pool or Celery workers), with events for their live progress."""

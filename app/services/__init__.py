"""Business logic of the service: analyses, the job runner, the event bus, health."""

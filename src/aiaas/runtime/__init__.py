"""Running models: tasks (what goes in and out), backends (frameworks), the manager and batcher."""

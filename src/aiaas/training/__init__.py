"""Training inside the service: built-in datasets, jobs run by a separate worker process,
evaluation on a held-out test split, PNG plots and the deploy gate."""

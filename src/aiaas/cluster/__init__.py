"""Scale-out on a Ray cluster (``AIAAS_RAY_ADDRESS``): the optional ``ray`` extra.

Nothing here is imported unless the setting is given, so a server on one machine never imports
Ray. With it, ``Services.build`` plugs ``RayReplicas`` into the placement's ``ReplicaFactory``
seam: each served version becomes a Ray Serve deployment whose replicas (``ModelServer``) run the
same ``LocalReplica`` (backend and batcher) this process would, and the server stays the API
tier (keys, limits, registry, usage, the front door's checks and meter).
"""

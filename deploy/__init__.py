"""Ways to run IronPath: the local supervisor (`make run`), images and manifests."""

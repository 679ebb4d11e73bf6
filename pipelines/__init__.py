"""trainpipe's pipeline definitions, their configs, and the local (kfp.local) runner."""

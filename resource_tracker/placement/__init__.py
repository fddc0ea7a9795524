"""The host's resource provider in a Placement service: a client of a service, like db/.

records.py holds what the audit hands over (the provider as this host sees it), client.py the
HTTP calls (each within a deadline), sync.py the write-on-change reconcile with Placement.
Nothing here imports virt/ or db/, nor reads CONF: settings come as arguments.
"""

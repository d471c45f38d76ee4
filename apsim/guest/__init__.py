"""Guests and workloads: KVM guests with their CPU features and vCPUs, and the
request generators that drive AP queues from inside a guest (or an LPAR)."""

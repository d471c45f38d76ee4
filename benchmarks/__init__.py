"""apsim benchmarks: engine speed and scaling against a bare-SimPy baseline (``make bench``)."""

cdef class Hook:
    cdef public object callbacks

cdef class Pickup(Hook):
    cdef public long long pickup_ns
    cpdef pickup(self, queue)

cdef class VcpuGate:
    cdef public long long until

from apsim.engine.simpy_internals cimport clock

cdef extern from *:
    """
    /* Ask the CPU to start loading the cache lines of bytes [o, o + nbytes): a hint
       with no effect on any result (Workload._prefetch_rr, Calendar._warm_next,
       Request._warm). */
    static CYTHON_INLINE void apsim_prefetch(const void *o, Py_ssize_t nbytes) {
        Py_uintptr_t a = (Py_uintptr_t)o & ~(Py_uintptr_t)63;
        Py_uintptr_t end = (Py_uintptr_t)o + (Py_uintptr_t)nbytes;
        for (; a < end; a += 64) __builtin_prefetch((const void *)a);
    }
    """
    void apsim_prefetch(void *o, Py_ssize_t nbytes)

cdef class Hook:
    cdef public object callbacks
    cdef void _warm(self) noexcept

cdef class Pickup(Hook):
    cdef public long long pickup_ns
    cdef public long long picked_at
    cpdef pickup(self, queue)

cdef class VcpuGate:
    cdef public long long until

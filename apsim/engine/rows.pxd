import cython

cdef bint _COMPILED

cdef class RowBuffer:
    cdef public object sink
    cdef public long long n
    cdef public long long cap
    cdef object _block
    cdef long long[:, ::1] _v
    cdef list _rows

    @cython.locals(n=cython.longlong, v=cython.longlong[:, ::1])
    cpdef add(self, long long owner, long long apqn, long long rtype, long long t_submit,
              long long t_start, long long t_done, long long t_deq)

    @cython.locals(n=cython.longlong)
    cpdef flush(self)

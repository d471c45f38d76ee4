import cython

cdef bint _COMPILED

@cython.locals(i=cython.longlong, k=cython.longlong, lo=cython.longlong, hi=cython.longlong,
               best=cython.longlong, f=cython.longlong, j=cython.longlong, t=cython.longlong)
cdef _fifo_loop(long long[::1] a, long long[::1] s, long long[::1] seg, long long[::1] off,
                long long[::1] eng, long long[::1] start, long long n)

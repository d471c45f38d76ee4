import cython
from cpython.list cimport PyList_GET_ITEM
from apsim.engine.core cimport Hook, apsim_prefetch
from apsim.engine.simpy_internals cimport clock, set_clock

cdef long long _PRIO_SHIFT
cdef long long _EID_MASK
cdef bint _COMPILED

cdef class Calendar(Hook):
    cdef public object env
    cdef public bint own_heap
    cdef list _sq
    cdef object _eid
    cdef public long long _n
    cdef long long _cap
    cdef long long[:, ::1] _h
    cdef list _oo
    cdef long long[::1] _free
    cdef long long _nfree
    cdef public list armed
    cdef bint _running
    cdef tuple _cbs
    cdef public long long fired
    cdef public long long warm_min

    @cython.locals(e=cython.longlong, k=cython.longlong)
    cpdef push(self, long long at, Hook hook, long long priority=*)

    @cython.locals(armed=list, top=tuple)
    cdef _arm_if_earlier(self, long long t, long long k)

    cdef _arm(self, long long t, long long k)

    @cython.locals(sq=list, t=cython.longlong,
                   k=cython.longlong, h=tuple, hv=cython.longlong, p=cython.longlong,
                   hp=cython.longlong, he=cython.longlong, hook=Hook)
    cpdef _fire(self, _ev)

    @cython.locals(n=cython.longlong, h=cython.longlong[:, ::1], i=cython.longlong, p=cython.longlong,
                   pt=cython.longlong, nf=cython.longlong, slot=cython.longlong)
    cdef _hpush(self, long long t, long long k, Hook o)

    @cython.locals(n=cython.longlong, h=cython.longlong[:, ::1], t=cython.longlong, k=cython.longlong,
                   s=cython.longlong,
                   slot=cython.longlong, i=cython.longlong, c=cython.longlong,
                   r=cython.longlong, ct=cython.longlong, ck=cython.longlong, rt=cython.longlong,
                   top=Hook)
    cdef Hook _hpop(self)

    @cython.locals(c=cython.longlong)
    cdef void _warm_next(self) noexcept

import cython
from apsim.engine.core cimport Hook, Pickup
from apsim.engine.calendar cimport Calendar
from apsim.engine.simpy_internals cimport clock

cdef bint _COMPILED

cdef class Target
cdef class _LLGroup

cdef class Driver(Hook):
    # The workload's fields an interruption reads (Target.on_irq); they come first
    # in its struct, where its hot fields are.
    cdef public object env
    cdef public Calendar _cal
    cdef public long long irq_latency

    cdef _take_replies(self, Target tg, long long now)

cdef class Target(Pickup):
    cdef public Driver wl
    cdef public object q
    cdef public long long gen
    cdef public int apqn
    cdef public long long idx
    cdef public long long outstanding
    cdef public long long depth
    cdef public long long load
    cdef public long long total
    cdef public object _held
    cdef public _LLGroup group
    cdef public dict weights
    cdef public tuple pickup_cbs
    cpdef pickup(self, queue)

    @cython.locals(w=object)
    cpdef long long weight(self, long long rt) except? -1

cdef class _LLGroup:
    cdef public tuple weights
    cdef public list members
    cdef public long long _n
    cdef long long _cap
    cdef long long[::1] _load
    cdef long long[::1] _total
    cdef long long[::1] _idx

    cpdef push(self, long long load, long long total, long long idx)

    @cython.locals(t=Target)
    cdef _compact(self)

    @cython.locals(la=cython.longlong[::1], ta=cython.longlong[::1], ia=cython.longlong[::1],
                   i=cython.longlong, p=cython.longlong, pl=cython.longlong)
    cdef _push(self, long long load, long long total, long long idx)

    @cython.locals(la=cython.longlong[::1], ta=cython.longlong[::1], ia=cython.longlong[::1],
                   n=cython.longlong, i=cython.longlong, c=cython.longlong, r=cython.longlong,
                   cl=cython.longlong, load=cython.longlong, total=cython.longlong, idx=cython.longlong)
    cdef _pop(self)

    @cython.locals(t=Target)
    cpdef Target top(self, list active)

import cython
from cpython cimport array
from apsim.engine.queue cimport APQueue
from apsim.engine.request cimport Request, Ledger
from apsim.engine.core cimport Hook, Pickup
from apsim.engine.calendar cimport Calendar
from apsim.engine.simpy_internals cimport clock

cdef bint _COMPILED

cdef class Adapter:
    cdef public object env
    cdef public int apid
    cdef public object spec
    cdef public object sampler
    cdef public Ledger ledger
    cdef public object arbitration
    cdef public object profile_reset_ns
    cdef public bint planned
    cdef public bint checkstopped
    cdef public long long _busy_until
    cdef public dict queues
    cdef public long long _n_done
    cdef public long long _busy_done
    cdef public long long _svc_sum
    cdef public long long _n_lost
    cdef public list engines
    cdef public list _idle
    cdef public object _rr_waiting
    cdef public list _free_at
    cdef public long long _order
    cdef public long long max_msg
    cdef public list mean_ns
    cdef public object draw
    cdef public bint _sampler_blocks
    cdef public tuple _done_cbs
    cdef public tuple _reply_cbs
    cdef public tuple _ready_cbs
    cdef public tuple _rearm_reply_cbs
    cdef public tuple _rearm_ready_cbs
    cdef public Calendar _cal
    cdef dict __dict__

    @cython.locals(now=cython.longlong, f=cython.longlong, start=cython.longlong, done=cython.longlong, q=APQueue)
    cdef _submit(self, Request req, long long now)

    cpdef submit(self, Request req)

    @cython.locals(pos=cython.longlong, row=array.array)
    cdef long long _draw(self, int rt) except? -1

    @cython.locals(st=cython.int, q=APQueue, plan=list, pk=Pickup)
    cpdef _reply_event(self, Request req)

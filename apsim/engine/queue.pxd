import cython
from apsim.engine.request cimport Request, Ledger
from apsim.engine.simpy_internals cimport clock

cdef class APQueue:
    cdef public object adapter
    cdef public object env
    cdef public Ledger ledger
    cdef public long long _gate
    cdef public long long count
    cdef public long long depth
    cdef public long long touched
    cdef public long long nqap_count
    cdef public long long dqap_count
    cdef public long long _occ_sum
    cdef public Request _ph
    cdef public Request _pt
    cdef public long long _np
    cdef public Request _rh
    cdef public Request _rt
    cdef public long long _nr
    cdef public object _sink
    cdef public long long _irq_count
    cdef public int apqn
    cdef public int _cfg_rc
    cdef public bint _irq
    cdef public object _irq_target
    cdef public long long _reset_until
    cdef public long long _assoc_until
    cdef public int apid
    cdef public int apqi
    cdef public object owner_lpar
    cdef public object isc
    cdef public object nib
    cdef public object gisa
    cdef public object bound_by
    cdef public bint associated
    cdef public object assoc_index
    cdef public object async_rc
    cdef public bint assoc_fail
    cdef public object _fault

    @cython.locals(ready=list, later=list, req=Request, a=Request, b=Request, n=cython.longlong,
                   i=Py_ssize_t)
    cpdef _settle(self, long long now)

    cdef void _post_only(self, Request req)
    cdef void _plan_add(self, Request req)
    cdef void _reply_add(self, Request req)
    @cython.locals(req=Request, nxt=Request)
    cdef Request _reply_pop(self)


import cython
from apsim.engine.core cimport Hook, apsim_prefetch
from apsim.engine.simpy_internals cimport clock

cdef class Request(Hook):
    cdef public int _state
    cdef public object queue
    cdef public object sink
    cdef public int rtype
    cdef public long long t_submit
    cdef public long long t_start
    cdef public long long t_done
    cdef public long long service_ns
    cdef public object tag
    cdef public long long owner
    cdef public long long apqn
    cdef public long long length
    cdef public long long ctrl_domain
    cdef public long long order
    cdef public object hook
    cdef public object psmid
    cdef public object drop_cause
    cdef public Request _next

    cdef void _warm(self) noexcept

cdef void _fill(Request req, object psmid, int rtype, long long length, long long owner,
                long long t_submit, long long ctrl_domain, object tag)

@cython.locals(req=Request)
cpdef Request new_request(unsigned long long psmid, int rtype, long long length, long long owner,
                          long long t_submit, object tag)

cdef class Ledger:
    cdef public long long submitted
    cdef public long long completed
    cdef public object rejected
    cdef public object dropped
    cdef public object drop_listeners

    cpdef accept(self)
